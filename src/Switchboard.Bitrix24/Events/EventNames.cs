namespace Switchboard.Bitrix24.Events;

/// <summary>The event codes Switchboard knows, upper case as Bitrix24 sends them.</summary>
public static class EventNames
{
    /// <summary>Click-to-call from the CRM.</summary>
    public const string ExternalCallStart = "ONEXTERNALCALLSTART";
    /// <summary>Callback form submitted.</summary>
    public const string ExternalCallBackStart = "ONEXTERNALCALLBACKSTART";
    /// <summary>Call set up.</summary>
    public const string VoximplantCallInit = "ONVOXIMPLANTCALLINIT";
    /// <summary>Call answered.</summary>
    public const string VoximplantCallStart = "ONVOXIMPLANTCALLSTART";
    /// <summary>Call ended.</summary>
    public const string VoximplantCallEnd = "ONVOXIMPLANTCALLEND";
    /// <summary>Application installed.</summary>
    public const string AppInstall = "ONAPPINSTALL";
    /// <summary>Application updated.</summary>
    public const string AppUpdate = "ONAPPUPDATE";
    /// <summary>Application removed.</summary>
    public const string AppUninstall = "ONAPPUNINSTALL";
    /// <summary>Offline queue has records.</summary>
    public const string OfflineEvent = "ONOFFLINEEVENT";

    /// <summary>Upper-cases an event code the way Bitrix24 writes it (matching is case-insensitive).</summary>
    public static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToUpperInvariant();
    }
}
