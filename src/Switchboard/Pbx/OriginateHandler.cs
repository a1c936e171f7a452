using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Switchboard.Asterisk.Session;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Hosting;
using Switchboard.Journal;
using Switchboard.Outbox;

namespace Switchboard.Pbx;

/// <summary>
/// Carries out the ledger's <c>pbx.originate</c> command: rings the clicking user's phone through the
/// portal's PBX and, once they answer, the customer (Asterisk's <c>Originate</c> with <c>Async: true</c>;
/// a synchronous one blocks the AMI session until the phone answers). Every way a click can fail ends
/// the call in Bitrix24 with a status and a reason, and the command is done: a click is never left open.
/// </summary>
/// <remarks>
/// A phone must ring at most once per click:
/// <list type="bullet">
/// <item>the ledger emits one originate per CALL_ID, ever, however often Bitrix24 delivers the click;</item>
/// <item>the same user clicking the same number again within <see cref="PbxOptions.RepeatClickWindow"/> is not rung again;</item>
/// <item>the attempt is committed to the ledger before the Originate is written; a retry that finds an
/// attempt which may have reached Asterisk (a crash, a cut connection, a timeout) looks for the call's
/// channels instead, follows it if it is there, and otherwise ends it without ringing again;</item>
/// <item>the Originate's ChannelId is derived from the CALL_ID, and Asterisk refuses a second live
/// channel with the same Uniqueid.</item>
/// </list>
/// </remarks>
public sealed partial class OriginateHandler(
    PbxRegistry registry,
    SqlCallStore calls,
    IJournalStore journal,
    IOptions<PbxOptions> options,
    StoreClock clock,
    SwitchboardMetrics metrics,
    TimeProvider time,
    ILogger<OriginateHandler> logger) : IOutboxHandler
{
    private readonly ConcurrentDictionary<(string MemberId, long UserId, string Number), (string CallId, DateTimeOffset At)> _recentClicks = new();

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Kinds { get; } = [OutboxKinds.Originate];

    /// <inheritdoc/>
    public async Task<IReadOnlyDictionary<long, CommandOutcome>> ExecuteAsync(string memberId, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var outcomes = new Dictionary<long, CommandOutcome>();
        foreach (var entry in entries)
        {
            OriginateCall? command;
            try
            {
                command = JsonSerializer.Deserialize<OriginateCall>(entry.Payload, CallJson.Options);
            }
            catch (JsonException ex)
            {
                outcomes[entry.Id] = new CommandOutcome.Fail("The command's payload is not valid: " + ex.Message);
                continue;
            }

            outcomes[entry.Id] = command is null
                ? new CommandOutcome.Fail("The command's payload is empty.")
                : await PlaceAsync(memberId, entry, command, cancellationToken).ConfigureAwait(false);
        }

        return outcomes;
    }

    private async Task<CommandOutcome> PlaceAsync(string memberId, OutboxEntry entry, OriginateCall command, CancellationToken ct)
    {
        var stored = await calls.GetAsync(memberId, command.CallId, ct).ConfigureAwait(false);
        if (stored?.Record is not { } record)
        {
            return new CommandOutcome.Fail($"Call {command.CallId} is not in the ledger.");
        }

        if (record.EndKnown)
        {
            return new CommandOutcome.Done("The call was finished already; not placed.");
        }

        var pbx = registry.ForPortal(memberId);
        if (pbx is null)
        {
            return await NotPlacedAsync(memberId, record, "no_pbx", CallStatusCode.ServiceUnavailable,
                $"No PBX is set up for this portal in Switchboard: set Switchboard:Pbx:Asterisk:<name>:MemberId={memberId} (or configure one PBX with one portal installed).", ct).ConfigureAwait(false);
        }

        var pbxCallId = record.PbxCallId ?? CallTracker.PbxCallIdFor(record.CallId);
        if (record.OriginateMayHaveRung)
        {
            // Never ring twice: look for the call instead. While the PBX is not connected, the
            // reconciliation that runs at every (re)connect follows or ends it (it is open, with its
            // PbxCallId, in the ledger).
            return pbx.IsReady
                ? await AfterUnknownOutcomeAsync(pbx, memberId, record, pbxCallId, ct).ConfigureAwait(false)
                : new CommandOutcome.Done($"An earlier attempt may have rung; PBX {pbx.Name} is not connected, so the call is reconciled when it is.");
        }

        var now = await StoreNowAsync(ct).ConfigureAwait(false);
        var clickedAt = record.RequestedAt ?? entry.CreatedAt;
        if (now - clickedAt > pbx.Options.OriginateDeadline)
        {
            var why = pbx.Status.LastError is { } error ? $" ({error})" : "";
            return await NotPlacedAsync(memberId, record, "too_late", CallStatusCode.ServiceUnavailable,
                $"Not placed: PBX {pbx.Name} could not be reached within {pbx.Options.OriginateDeadline.TotalSeconds:0} s of the click{why}. Click again once it is back.", ct).ConfigureAwait(false);
        }

        if (!pbx.IsReady)
        {
            // The holder (this instance, reconnecting, or another one) places it; the deadline bounds the wait.
            return new CommandOutcome.Defer(pbx.HoldsLease
                ? $"Waits for PBX {pbx.Name} to connect: {pbx.Status.LastError ?? "connecting"}."
                : $"PBX {pbx.Name} is held by {pbx.Status.Holder ?? "another instance"}.", TimeSpan.FromMilliseconds(250));
        }

        if (await pbx.ResolveMemberAsync(ct).ConfigureAwait(false) is null)
        {
            return await NotPlacedAsync(memberId, record, "no_pbx", CallStatusCode.ServiceUnavailable,
                $"PBX {pbx.Name} has no portal: several portals are installed, so set Switchboard:Pbx:Asterisk:{pbx.Name}:MemberId.", ct).ConfigureAwait(false);
        }

        var extension = command.Extension is { Length: > 0 } given ? given : await ExtensionOfAsync(memberId, record.UserId, ct).ConfigureAwait(false);
        if (extension is null)
        {
            return await NotPlacedAsync(memberId, record, "no_extension", CallStatusCode.InvalidNumber,
                $"Bitrix24 user {record.UserId?.ToString(CultureInfo.InvariantCulture) ?? "?"} has no internal phone number: fill in the user's internal phone number (the extension of their desk phone) in their Bitrix24 profile, then reinstall or update the application so Switchboard loads it.", ct).ConfigureAwait(false);
        }

        // The extension goes into the Originate's Channel: anything but digits could name another device
        // (101&PJSIP/200, 101@other-context) or break the AMI packet.
        if (!extension.All(char.IsAsciiDigit))
        {
            return await NotPlacedAsync(memberId, record, "no_extension", CallStatusCode.InvalidNumber,
                $"Bitrix24 user {record.UserId?.ToString(CultureInfo.InvariantCulture) ?? "?"} has an internal phone number that is not an extension (digits only): correct it in the user's Bitrix24 profile.", ct).ConfigureAwait(false);
        }

        if (NumberNormalizer.ForDialling(command.PhoneNumber, options.Value, pbx.Options) is not { } number)
        {
            return await NotPlacedAsync(memberId, record, "bad_number", CallStatusCode.AddressIncomplete,
                $"Not placed: '{command.PhoneNumber}' is not a phone number.", ct).ConfigureAwait(false);
        }

        if (record.UserId is { } user && IsRepeatClick(memberId, user, number, record.CallId, now) is { } first)
        {
            return await NotPlacedAsync(memberId, record, "repeat_click", CallStatusCode.Cancelled,
                $"Not placed: the same user clicked {number} again within {options.Value.RepeatClickWindow.TotalSeconds:0} s (call {first}); the phone rang once.", ct).ConfigureAwait(false);
        }

        var attempt = Guid.NewGuid().ToString("N");
        var actionId = "sb-originate-" + attempt;
        pbx.Tracker.Expect(memberId, record.CallId, pbxCallId, actionId, extension, record.UserId);
        await calls.ApplyAsync(new OriginateBegun(record.CallId, pbx.Name, pbxCallId, attempt, extension, now), now, ct, memberId).ConfigureAwait(false);

        var action = new AmiAction("Originate") { ActionId = actionId }
            .Add("Channel", pbx.Options.OriginateChannel.Replace("{extension}", extension, StringComparison.Ordinal))
            .Add("Context", pbx.Options.OriginateContext)
            .Add("Exten", number)
            .Add("Priority", "1")
            .Add("Timeout", ((long)pbx.Options.OriginateTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture))
            .Add("CallerID", pbx.Options.OriginateCallerId.Replace("{number}", number, StringComparison.Ordinal))
            .Add("Variable", $"{pbx.Options.CallIdVariable}={record.CallId}")
            .Add("ChannelId", pbxCallId)
            .Add("Async", "true");
        AmiResponse response;
        try
        {
            response = await pbx.SendAsync(action, ct).ConfigureAwait(false);
        }
        catch (AmiConnectionLostException ex) when (!ex.ActionWritten)
        {
            // It never left this process: ringing on the next try is safe.
            pbx.Tracker.Abandon(record.CallId);
            await calls.ApplyAsync(new OriginateNotSent(record.CallId, attempt), now, ct, memberId).ConfigureAwait(false);
            return new CommandOutcome.Defer($"PBX {pbx.Name} connection lost before the Originate was written.", TimeSpan.FromMilliseconds(250));
        }
        catch (Exception ex) when (ex is AmiConnectionLostException or TimeoutException or IOException)
        {
            // Written, outcome unknown: the next try looks for the call rather than ringing again. No
            // OriginateResponse will come for it on a new connection, so a reconciliation may now end
            // the call when its channels are gone.
            pbx.Tracker.OriginateAnswered(record.CallId);
            LogUnknownOutcome(logger, record.CallId, pbx.Name, ex.Message);
            return new CommandOutcome.Defer($"The Originate reached PBX {pbx.Name} but its answer did not ({ex.Message}); the call is looked for before anything else.", TimeSpan.FromMilliseconds(250));
        }

        pbx.Tracker.OriginateAnswered(record.CallId);
        if (!response.IsSuccess)
        {
            pbx.Tracker.Abandon(record.CallId);
        }

        if (response.IsSuccess)
        {
            metrics.PbxOriginate("queued");
            LogOriginated(logger, record.CallId, pbx.Name, extension, pbxCallId);
            return new CommandOutcome.Done($"Originate queued on {pbx.Name} as {pbxCallId}.");
        }

        // "Extension does not exist." is Asterisk's early check of Exten@Context (main/manager.c, action_originate).
        var text = response.Text ?? "refused";
        return text.Contains("Extension does not exist", StringComparison.OrdinalIgnoreCase)
            ? await NotPlacedAsync(memberId, record, "no_route", CallStatusCode.InvalidNumber,
                $"PBX {pbx.Name} has no route for {number} in context {pbx.Options.OriginateContext} (Asterisk: {text}).", ct, reached: true).ConfigureAwait(false)
            : await NotPlacedAsync(memberId, record, "refused", CallStatusCode.ServiceUnavailable,
                $"PBX {pbx.Name} refused the Originate: {text}", ct, reached: true).ConfigureAwait(false);
    }

    /// <summary>An earlier attempt may have rung: follow the call if its channels are there, never ring again.</summary>
    private async Task<CommandOutcome> AfterUnknownOutcomeAsync(AsteriskConnector pbx, string memberId, CallRecord record, string pbxCallId, CancellationToken ct)
    {
        if (pbx.Tracker.IsFollowing(record.CallId))
        {
            return new CommandOutcome.Done("Placed by an earlier attempt; followed.");
        }

        IReadOnlyList<Asterisk.Events.CoreShowChannelEvent> live;
        try
        {
            live = await pbx.LiveChannelsAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmiConnectionLostException or TimeoutException or IOException)
        {
            return new CommandOutcome.Defer($"Looks for the call on PBX {pbx.Name} once it answers: {ex.Message}", TimeSpan.FromMilliseconds(250));
        }

        var now = await StoreNowAsync(ct).ConfigureAwait(false);
        var facts = pbx.Tracker.Reconcile(memberId, live, [record], now, now);
        await pbx.CommitAsync(facts, ct).ConfigureAwait(false);
        if (pbx.Tracker.IsFollowing(record.CallId))
        {
            metrics.PbxOriginate("found");
            return new CommandOutcome.Done("Placed by an earlier attempt whose answer was lost; found on the PBX and followed.");
        }

        metrics.PbxOriginate("unknown");
        return new CommandOutcome.Done("An earlier attempt may have rung and the call is not on the PBX: ended without ringing again.");
    }

    private async Task<CommandOutcome> NotPlacedAsync(string memberId, CallRecord record, string outcome, CallStatusCode status, string reason, CancellationToken ct, bool reached = false)
    {
        var now = await StoreNowAsync(ct).ConfigureAwait(false);
        await calls.ApplyAsync(new PbxHungUp(record.CallId, status, TimeSpan.Zero, now, reason), now, ct, memberId).ConfigureAwait(false);
        metrics.PbxOriginate(outcome);
        metrics.PbxCallEnded(status.Code, reconstructed: false);
        LogNotPlaced(logger, record.CallId, memberId, status.Code, reason);
        return new CommandOutcome.Done((reached ? "Refused by the PBX: " : "Not placed: ") + reason);
    }

    private async Task<string?> ExtensionOfAsync(string memberId, long? userId, CancellationToken ct)
    {
        if (userId is not { } id)
        {
            return null;
        }

        var users = await journal.GetPortalUsersAsync(memberId, ct).ConfigureAwait(false);
        return users.FirstOrDefault(u => u.UserId == id && u.Active)?.Extension;
    }

    /// <summary>The CALL_ID of an earlier click of the same user on the same number within the window, or null (and this click is remembered).</summary>
    private string? IsRepeatClick(string memberId, long userId, string number, string callId, DateTimeOffset now)
    {
        var window = options.Value.RepeatClickWindow;
        foreach (var stale in _recentClicks.Where(kv => now - kv.Value.At > window).Select(kv => kv.Key).ToList())
        {
            _recentClicks.TryRemove(stale, out _);
        }

        var key = (memberId, userId, NumberNormalizer.Digits(number));
        var mine = (callId, now);
        var seen = _recentClicks.GetOrAdd(key, mine);
        return seen.CallId == callId ? null : seen.CallId;
    }

    private async Task<DateTimeOffset> StoreNowAsync(CancellationToken ct)
    {
        try
        {
            return await clock.NowAsync(ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return time.GetUtcNow();
        }
    }

    [LoggerMessage(EventId = 5200, Level = LogLevel.Information, Message = "Call {CallId}: Originate queued on {Pbx}, ringing extension {Extension} ({PbxCallId})")]
    private static partial void LogOriginated(ILogger logger, string callId, string pbx, string extension, string pbxCallId);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Warning, Message = "Call {CallId} of {MemberId} not placed, finished with {Status}: {Reason}")]
    private static partial void LogNotPlaced(ILogger logger, string callId, string memberId, string status, string reason);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "Call {CallId}: the Originate was written to {Pbx} but its answer was lost ({Error}); it will be looked for, not sent again")]
    private static partial void LogUnknownOutcome(ILogger logger, string callId, string pbx, string error);
}
