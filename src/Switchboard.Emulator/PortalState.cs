using System.Text.Json.Serialization;

namespace Switchboard.Emulator;

/// <summary>A bound event handler (event.bind).</summary>
public sealed record BoundHandler(long Id, string Event, string Handler, long AuthType, bool Offline);

/// <summary>An external line (telephony.externalLine.add).</summary>
public sealed record ExternalLine(long Id, string Number, string Name, bool CrmAutoCreate);

/// <summary>A recording attached to a call.</summary>
public sealed record Recording(long FileId, string CallId, string FileName, long Size, string Mode);

/// <summary>
/// One REST or OAuth request as the emulator answered it, or one command inside a <c>batch</c> (then
/// <see cref="BatchCommand"/> is set and the batch itself follows as its own entry).
/// </summary>
/// <param name="Method">Lower-cased method name without <c>.json</c>, e.g. <c>telephony.externalcall.finish</c>.</param>
/// <param name="Time">When it was answered.</param>
/// <param name="Status">The HTTP status answered (for a batch command, the status the command alone would have had); 0 for a <see cref="FaultKind.DropConnection"/>.</param>
/// <param name="Error">The error code answered, if any.</param>
public sealed record RequestLogEntry(string Method, DateTimeOffset Time, int Status, string? Error)
{
    /// <summary>
    /// The CALL_ID of a telephony.externalCall.register/show/hide/finish/attachRecord that reached the
    /// method, whatever it answered (for register, the CALL_ID it issued). Null for other methods and for
    /// requests turned away before the method ran (auth, limits, outage, a fault injected before execution).
    /// </summary>
    public string? CallId { get; init; }

    /// <summary>The command's key in <c>cmd</c> when this entry is a command inside a batch.</summary>
    public string? BatchCommand { get; init; }

    /// <summary>
    /// <see cref="FaultKind.ApplyThenDrop"/> or <see cref="FaultKind.ApplyThenDelay"/> when the request was
    /// executed and logged as such but its answer was then dropped or held back.
    /// </summary>
    [JsonConverter(typeof(JsonStringEnumConverter<FaultKind>))]
    public FaultKind? Fault { get; init; }
}

/// <summary>A handler's answer to one event delivery.</summary>
public sealed record EventDelivery(string Event, string HandlerUrl, long HandlerId, int? Status, string? Error)
{
    /// <summary>True when the handler answered with a 2xx status.</summary>
    public bool Delivered => Status is >= 200 and < 300;
}

/// <summary>A call as registered, shown, hidden and finished. Mutable under <see cref="PortalState"/>'s lock.</summary>
public sealed class EmulatedCall
{
    /// <summary>The CALL_ID the portal issued.</summary>
    public required string CallId { get; init; }
    /// <summary>EXTERNAL_CALL_ID, empty for click-to-call registrations.</summary>
    public string ExternalCallId { get; init; } = "";
    /// <summary>Who registered it: "rest" (telephony.externalCall.register) or "click-to-call" (the portal itself).</summary>
    public string Origin { get; init; } = "rest";
    /// <summary>Every parameter the register call carried, as received.</summary>
    public IReadOnlyDictionary<string, string> RegisterParameters { get; init; } = new Dictionary<string, string>();
    /// <summary>Resolved user.</summary>
    public long UserId { get; init; }
    /// <summary>PHONE_NUMBER.</summary>
    public string PhoneNumber { get; init; } = "";
    /// <summary>TYPE 1..5.</summary>
    public int Type { get; init; }
    /// <summary>LINE_NUMBER.</summary>
    public string LineNumber { get; init; } = "";
    /// <summary>When register first created it (the 30-minute dedup window starts here).</summary>
    public DateTimeOffset RegisteredAt { get; init; }
    /// <summary>How many register calls returned this CALL_ID.</summary>
    public int RegisterCount { get; set; } = 1;
    /// <summary>CRM entity bound to the call.</summary>
    public string? CrmEntityType { get; set; }
    /// <summary>CRM entity id.</summary>
    public long? CrmEntityId { get; set; }
    /// <summary>Users the card was shown to, in order.</summary>
    public List<long> ShownTo { get; } = [];
    /// <summary>Users the card was hidden from, in order.</summary>
    public List<long> HiddenFrom { get; } = [];
    /// <summary>Statistic id once finished.</summary>
    public long? StatisticId { get; set; }
    /// <summary>When finish was accepted.</summary>
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Every parameter the finish call carried.</summary>
    public IReadOnlyDictionary<string, string>? FinishParameters { get; set; }
    /// <summary>True after telephony.externalCall.finish.</summary>
    public bool Finished => FinishedAt is not null;
}

/// <summary>
/// The emulated portal's data. One lock guards everything: the emulator serves a handful of requests
/// at a time and correctness is worth more here than throughput. Snapshots are copies.
/// </summary>
public sealed class PortalState
{
    internal readonly Lock Sync = new();
    internal readonly List<EmulatedUser> UserList = [];
    internal readonly List<ExternalLine> LineList = [];
    internal readonly List<BoundHandler> HandlerList = [];
    internal readonly List<EmulatedCall> CallList = [];
    internal readonly List<Recording> RecordingList = [];
    internal readonly List<RequestLogEntry> Log = [];
    internal readonly List<EventDelivery> DeliveryList = [];
    internal readonly List<CrmEntity> CrmList = [];
    internal long NextLineId = 1;
    internal long NextHandlerId = 1055;
    internal long NextFileId = 9079;
    internal long NextStatisticId = 1;
    internal long NextLeadId = 5000;
    internal int Refreshes;

    internal PortalState(EmulatorOptions options)
    {
        UserList.AddRange(options.Users);
        CrmList.AddRange(options.Crm);
    }

    private T Read<T>(Func<T> read)
    {
        lock (Sync)
        {
            return read();
        }
    }

    /// <summary>Users with their extensions.</summary>
    public IReadOnlyList<EmulatedUser> Users => Read(() => UserList.ToArray());
    /// <summary>External lines.</summary>
    public IReadOnlyList<ExternalLine> Lines => Read(() => LineList.ToArray());
    /// <summary>Bound handlers.</summary>
    public IReadOnlyList<BoundHandler> Handlers => Read(() => HandlerList.ToArray());
    /// <summary>Calls. The list is a copy; the call objects are live, so read their fields once the requests that change them have answered.</summary>
    public IReadOnlyList<EmulatedCall> Calls => Read(() => CallList.ToArray());
    /// <summary>Uploaded recordings.</summary>
    public IReadOnlyList<Recording> Recordings => Read(() => RecordingList.ToArray());
    /// <summary>Every REST and OAuth request in arrival order.</summary>
    public IReadOnlyList<RequestLogEntry> RequestLog => Read(() => Log.ToArray());
    /// <summary>Every event delivery attempt.</summary>
    public IReadOnlyList<EventDelivery> Deliveries => Read(() => DeliveryList.ToArray());
    /// <summary>Successful refresh_token grants.</summary>
    public int RefreshCount => Read(() => Refreshes);

    /// <summary>Adds or replaces a user (by id).</summary>
    public void UpsertUser(EmulatedUser user)
    {
        ArgumentNullException.ThrowIfNull(user);
        lock (Sync)
        {
            UserList.RemoveAll(u => u.Id == user.Id);
            UserList.Add(user);
            UserList.Sort((a, b) => a.Id.CompareTo(b.Id));
        }
    }

    /// <summary>
    /// How many requests for <paramref name="callId"/> reached <paramref name="method"/> (case-insensitive,
    /// e.g. <c>telephony.externalCall.finish</c>), counting commands inside batches and requests the method
    /// refused (e.g. a second finish answered "Call is not found"). Counted for register, show, hide, finish
    /// and attachRecord; requests turned away before the method ran are not counted.
    /// </summary>
    public int RequestsFor(string callId, string method)
    {
        ArgumentNullException.ThrowIfNull(callId);
        ArgumentNullException.ThrowIfNull(method);
        return Read(() => Log.Count(e => e.CallId == callId && string.Equals(e.Method, method, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>Looks a call up by CALL_ID.</summary>
    public EmulatedCall? FindCall(string callId) => Read(() => CallList.Find(c => c.CallId == callId));

    internal void Record(RequestLogEntry entry)
    {
        lock (Sync)
        {
            Log.Add(entry);
        }
    }
}
