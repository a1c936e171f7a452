namespace Switchboard.Outbox;

/// <summary>The <see cref="OutboxItem.Kind"/> values, one per side effect.</summary>
public static class OutboxKinds
{
    /// <summary><c>telephony.externalCall.finish</c>; payload <c>{"callId"}</c>, arguments read from the ledger when sent.</summary>
    public const string Finish = "bitrix24.finish";

    /// <summary><c>telephony.externalCall.show</c>; payload <c>{"callId","userId"}</c>.</summary>
    public const string Show = "bitrix24.show";

    /// <summary><c>telephony.externalCall.hide</c>; payload <c>{"callId","userId"}</c>.</summary>
    public const string Hide = "bitrix24.hide";

    /// <summary><c>telephony.externalCall.attachRecord</c>; payload <c>{"callId","path"}</c>.</summary>
    public const string AttachRecord = "bitrix24.attachRecord";

    /// <summary>Place a click-to-call on the PBX; payload <c>{"callId","phoneNumber","extension","userId","lineNumber"}</c>. Executed by the PBX connector.</summary>
    public const string Originate = "pbx.originate";

    /// <summary>Complete an install or update in the portal (verify, bind, lines, users); payload <c>{"journalId","event"}</c>.</summary>
    public const string PortalSetup = "portal.setup";

    /// <summary>True for the kinds the PBX connector executes (<c>pbx.*</c>).</summary>
    public static bool IsPbx(string kind) => kind.StartsWith("pbx.", StringComparison.Ordinal);
}
