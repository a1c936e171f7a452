using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bench;

/// <summary>
/// The bench portal: one member_id and application_token per run, its ONAPPINSTALL body and the
/// telephony event bodies, all encoded with <see cref="HttpBuildQuery"/> the way Bitrix24 sends them.
/// </summary>
internal sealed class BenchPortal
{
    public const string Domain = "bench.bitrix24.com";
    private const string RestAppId = "17";

    private readonly string accessToken = RandomHex();
    private readonly string refreshToken = RandomHex();

    public BenchPortal(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        Ts = time.GetUtcNow().ToUnixTimeSeconds();
    }

    public string MemberId { get; } = RandomHex();

    public string ApplicationToken { get; } = RandomHex();

    /// <summary>Unix time of the run's start: the install's <c>ts</c>, and what call start dates are counted back from.
    /// Telephony bodies carry the time they are sent (<see cref="EventTemplate.Stamp"/>).</summary>
    public long Ts { get; }

    public byte[] InstallBody() => Encoding.ASCII.GetBytes(HttpBuildQuery.Encode(
    [
        new("event", EventNames.AppInstall),
        new("event_handler_id", "1051"),
        new("data", new Dictionary<string, object?>
        {
            ["VERSION"] = "1",
            ["ACTIVE"] = "Y",
            ["INSTALLED"] = "Y",
            ["LANGUAGE_ID"] = "en",
        }),
        new("ts", Ts.ToString(CultureInfo.InvariantCulture)),
        new("auth", Auth("telephony,crm,user")),
    ]));

    /// <summary>
    /// <paramref name="count"/> telephony bodies for one worker, each with a slot in its CALL_ID that
    /// <see cref="EventTemplate.Stamp"/> fills with a number unique to the request.
    /// </summary>
    public EventTemplate[] Templates(int count, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var templates = new EventTemplate[count];
        for (var i = 0; i < count; i++)
        {
            // An even mix of the four events a click-to-call produces.
            var name = (i % 4) switch
            {
                0 => EventNames.ExternalCallStart,
                1 => EventNames.VoximplantCallInit,
                2 => EventNames.VoximplantCallStart,
                _ => EventNames.VoximplantCallEnd,
            };
            templates[i] = EventTemplate.Create(name, Body(name, random));
        }

        return templates;
    }

    private string Body(string name, Random r)
    {
        // CALL_ID is externalCall.<32 hex>.<unix ts>: 16 random hex, then the 16-hex stamp slot.
        // The tail is the registration time (REFERENCE.md §5: externalCall.<md5>.<unixts>), stamped with
        // the clock at send time like the body's ts: a run's CALL_IDs are spread over its seconds, as
        // real ones are, not all dated to the moment the bench started.
        var callId = $"externalCall.{RandomHex(8)}{EventTemplate.Slot}.{EventTemplate.TimeSlot}";
        var phone = $"+1415555{r.Next(0, 10_000):D4}";
        var userId = r.Next(1, 2_000).ToString(CultureInfo.InvariantCulture);
        Dictionary<string, object?> data;
        string handlerId;
        switch (name)
        {
            case EventNames.ExternalCallStart:
                handlerId = "1055";
                data = new()
                {
                    ["PHONE_NUMBER"] = phone,
                    ["PHONE_NUMBER_INTERNATIONAL"] = phone,
                    ["EXTENSION"] = r.Next(2) == 0 ? string.Empty : r.Next(100, 1000).ToString(CultureInfo.InvariantCulture),
                    ["USER_ID"] = userId,
                    ["CALL_LIST_ID"] = "0",
                    ["LINE_NUMBER"] = r.Next(1, 10).ToString(CultureInfo.InvariantCulture),
                    ["IS_MOBILE"] = r.Next(10) == 0 ? "1" : "0",
                    ["CALL_ID"] = callId,
                    ["CRM_ENTITY_TYPE"] = (r.Next(3)) switch { 0 => "CONTACT", 1 => "COMPANY", _ => "LEAD" },
                    ["CRM_ENTITY_ID"] = r.Next(1, 100_000).ToString(CultureInfo.InvariantCulture),
                };
                break;
            case EventNames.VoximplantCallInit:
                handlerId = "1057";
                data = new()
                {
                    ["CALL_ID"] = callId,
                    ["CALL_TYPE"] = r.Next(2) == 0 ? "1" : "2",
                    ["CALLER_ID"] = phone,
                    ["REST_APP_ID"] = RestAppId,
                };
                break;
            case EventNames.VoximplantCallStart:
                handlerId = "1059";
                data = new()
                {
                    ["CALL_ID"] = callId,
                    ["USER_ID"] = userId,
                };
                break;
            default:
                handlerId = "1061";
                var (code, reason) = (r.Next(6)) switch
                {
                    0 => ("304", "Missed call"),
                    1 => ("486", "Busy here"),
                    2 => ("603-S", "Call canceled"),
                    _ => ("200", "Success call"),
                };
                var duration = code == "200" ? r.Next(5, 1_800) : 0;
                var start = DateTimeOffset.FromUnixTimeSeconds(Ts - duration - r.Next(1, 60)).ToOffset(TimeSpan.FromHours(3));
                data = new()
                {
                    ["CALL_ID"] = callId,
                    ["CALL_TYPE"] = r.Next(2) == 0 ? "1" : "2",
                    ["PHONE_NUMBER"] = phone,
                    ["PORTAL_NUMBER"] = "REST_APP:" + RestAppId,
                    ["PORTAL_USER_ID"] = userId,
                    ["CALL_DURATION"] = duration.ToString(CultureInfo.InvariantCulture),
                    ["CALL_START_DATE"] = start.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
                    ["COST"] = (duration * 0.0125m).ToString("0.0000", CultureInfo.InvariantCulture),
                    ["COST_CURRENCY"] = r.Next(4) == 0 ? string.Empty : "USD",
                    ["CALL_FAILED_CODE"] = code,
                    ["CALL_FAILED_REASON"] = reason,
                    ["CRM_ACTIVITY_ID"] = r.Next(1, 1_000_000).ToString(CultureInfo.InvariantCulture),
                };
                break;
        }

        return HttpBuildQuery.Encode(
        [
            new("event", name),
            new("event_handler_id", handlerId),
            new("data", data),
            new("ts", EventTemplate.TimeSlot),
            new("auth", Auth("telephony")),
        ]);
    }

    private Dictionary<string, object?> Auth(string scope) => new()
    {
        ["access_token"] = accessToken,
        ["expires_in"] = "3600",
        ["scope"] = scope,
        ["domain"] = Domain,
        ["server_endpoint"] = "https://oauth.bitrix.info/rest/",
        ["status"] = "L",
        ["client_endpoint"] = $"https://{Domain}/rest/",
        ["member_id"] = MemberId,
        ["refresh_token"] = refreshToken,
        ["application_token"] = ApplicationToken,
    };

    private static string RandomHex(int bytes = 16) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}

/// <summary>
/// One pre-built body with a 16-character slot in its CALL_ID and a 10-character time slot (in the
/// CALL_ID's tail and in <c>ts</c>). Stamping writes 16 hex digits and the current Unix time into the
/// slots in place (a few nanoseconds), so every request is a distinct event sent "now", while all body
/// building happens before the clock starts and memory stays bounded however long the run is.
/// </summary>
/// <remarks>
/// Not thread-safe: each worker owns its templates and reuses one only after its previous request
/// has been answered.
/// </remarks>
internal sealed class EventTemplate
{
    /// <summary>The placeholder in the CALL_ID; 'Z' is not a hex digit, so it occurs nowhere else.</summary>
    public const string Slot = "ZZZZZZZZZZZZZZZZ";

    /// <summary>The placeholder for the send time, ten decimal digits of Unix time (until the year 2286).</summary>
    public const string TimeSlot = "TTTTTTTTTT";

    private EventTemplate(string eventName, byte[] body, int slotOffset, int[] timeOffsets)
    {
        EventName = eventName;
        Body = body;
        SlotOffset = slotOffset;
        TimeOffsets = timeOffsets;
    }

    public string EventName { get; }

    public byte[] Body { get; }

    private int SlotOffset { get; }

    private int[] TimeOffsets { get; }

    private long _stampedSeconds = -1;

    public static EventTemplate Create(string eventName, string encoded)
    {
        var body = Encoding.ASCII.GetBytes(encoded);
        var slot = Encoding.ASCII.GetBytes(Slot);
        var at = body.AsSpan().IndexOf(slot);
        if (at < 0 || body.AsSpan(at + slot.Length).IndexOf(slot) >= 0)
        {
            throw new InvalidOperationException("A body template must contain the CALL_ID slot exactly once.");
        }

        var timeSlot = Encoding.ASCII.GetBytes(TimeSlot);
        var times = new List<int>();
        for (var from = 0; body.AsSpan(from).IndexOf(timeSlot) is var i and >= 0; from += i + timeSlot.Length)
        {
            times.Add(from + i);
        }

        return new EventTemplate(eventName, body, at, [.. times]);
    }

    /// <summary>
    /// Writes <paramref name="unique"/>, scrambled, as 16 lower-case hex digits into the slot and
    /// <paramref name="unixSeconds"/> into the time slots, and returns the body.
    /// </summary>
    public byte[] Stamp(ulong unique, long unixSeconds)
    {
        var hex = Scramble(unique);
        var slot = Body.AsSpan(SlotOffset, Slot.Length);
        for (var i = slot.Length - 1; i >= 0; i--)
        {
            slot[i] = (byte)"0123456789abcdef"[(int)(hex & 0xF)];
            hex >>= 4;
        }

        if (unixSeconds != _stampedSeconds)
        {
            _stampedSeconds = unixSeconds;
            foreach (var offset in TimeOffsets)
            {
                var digits = Body.AsSpan(offset, TimeSlot.Length);
                var t = unixSeconds;
                for (var i = digits.Length - 1; i >= 0; i--)
                {
                    digits[i] = (byte)('0' + (int)(t % 10));
                    t /= 10;
                }
            }
        }

        return Body;
    }

    /// <summary>
    /// SplitMix64's finalizer: every step (xor with a right shift, multiply by an odd constant) is a
    /// bijection on 64-bit numbers, so distinct counters stay distinct, while the CALL_IDs look like
    /// the md5s Bitrix24 uses instead of a sequence an index on CALL_ID would find unrealistically easy.
    /// </summary>
    private static ulong Scramble(ulong x)
    {
        unchecked
        {
            x ^= x >> 30;
            x *= 0xBF58476D1CE4E5B9UL;
            x ^= x >> 27;
            x *= 0x94D049BB133111EBUL;
            return x ^ (x >> 31);
        }
    }

    /// <summary>
    /// Decodes a stamped body with the library's own parser and reader, so a generator bug shows up as
    /// a message here and not as a wall of 400s from the server.
    /// </summary>
    public string? Check(ulong unique, BenchPortal portal)
    {
        ArgumentNullException.ThrowIfNull(portal);
        var parsed = PhpFormParser.Parse(Stamp(unique, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        if (!parsed.Success)
        {
            return $"{EventName}: the body does not parse ({parsed.Error}: {parsed.Detail}).";
        }

        var read = Bitrix24EventReader.Read(parsed.Root);
        if (!read.Success)
        {
            return $"{EventName}: the body is not an event ({read.Error}).";
        }

        var ev = read.Event;
        if (ev.Name != EventName || ev.Auth.MemberId != portal.MemberId || ev.Auth.ApplicationToken != portal.ApplicationToken)
        {
            return $"{EventName}: the event name or auth block did not survive encoding.";
        }

        if (ev.CallId is not { } callId || !callId.Contains(Scramble(unique).ToString("x16", CultureInfo.InvariantCulture), StringComparison.Ordinal))
        {
            return $"{EventName}: the stamped CALL_ID is missing.";
        }

        if (ev.Problems.Count > 0)
        {
            return $"{EventName}: the reader reported problems in fields {string.Join(", ", ev.Problems.Select(p => p.Field))}.";
        }

        return null;
    }
}
