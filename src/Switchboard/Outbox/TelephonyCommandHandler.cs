using System.Text.Json;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Rest;
using Switchboard.Bitrix24.Telephony;
using Switchboard.Calls;

namespace Switchboard.Outbox;

/// <summary>
/// Sends the ledger's telephony commands to Bitrix24: finish, show and hide of one portal go out as
/// ONE <c>batch</c> request per 50 (REFERENCE §4.6: a batch counts once against the portal's request
/// bucket), attachRecord one by one after them (its file is too large for a batch, and Bitrix24 takes
/// a recording only for a call already finished, §6.4).
/// </summary>
/// <remarks>
/// Repeats are harmless. A finish sent again after its answer was lost (or after a crash before "done")
/// meets ERROR_CORE "Call is not found" — the emulator and the portal both refuse to finish a call twice
/// (EN-docs telephony-external-call-finish.md) — and that is read as done, so the call is in Bitrix24's
/// history once. Show and hide are idempotent at the portal, and attachRecord sent again replaces the
/// recording with the same file ("Calling it again replaces the earlier recording", REFERENCE §6.4).
/// Commands are marked done only after their answer, so a pass cut short (a stop, the lease) re-sends
/// what it had sent: harmless for the same reasons.
/// </remarks>
public sealed partial class TelephonyCommandHandler(
    Bitrix24RestClient rest,
    TelephonyClient telephony,
    SqlCallStore calls,
    IOptions<Bitrix24RestOptions> restOptions,
    TimeProvider time,
    ILogger<TelephonyCommandHandler> logger) : IOutboxHandler
{
    /// <summary>Recordings up to this size go inline (base64 in the request); larger ones by the two-step upload.</summary>
    internal const int InlineRecordingLimit = 5 * 1024 * 1024;

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Kinds { get; } = [OutboxKinds.Finish, OutboxKinds.Show, OutboxKinds.Hide, OutboxKinds.AttachRecord];

    /// <inheritdoc/>
    public async Task<IReadOnlyDictionary<long, CommandOutcome>> ExecuteAsync(string memberId, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var outcomes = new Dictionary<long, CommandOutcome>();
        if (restOptions.Value.Problems() is { Count: > 0 } problems)
        {
            // The app's credentials may be filled in later: keep the commands without counting attempts,
            // say what is missing, look again in a minute.
            var wait = new CommandOutcome.Defer("Switchboard cannot call Bitrix24 yet: " + string.Join(" ", problems), TimeSpan.FromMinutes(1));
            return entries.ToDictionary(e => e.Id, _ => (CommandOutcome)wait);
        }

        var batch = new List<(OutboxEntry Entry, BatchCommand Command)>();
        var recordings = new List<(OutboxEntry Entry, RecordingPayload Payload)>();
        var finishes = new Dictionary<string, long>(StringComparer.Ordinal); // CALL_ID → the finish entry in this pass
        foreach (var entry in entries)
        {
            try
            {
                switch (entry.Kind)
                {
                    case OutboxKinds.Finish:
                        var call = Read<CallPayload>(entry);
                        finishes[call.CallId] = entry.Id;
                        var finish = await FinishCommandAsync(entry, call, cancellationToken).ConfigureAwait(false);
                        if (finish.Command is { } command)
                        {
                            batch.Add((entry, command));
                        }
                        else
                        {
                            outcomes[entry.Id] = finish.Outcome!;
                        }

                        break;
                    case OutboxKinds.Show or OutboxKinds.Hide:
                        var user = Read<UserPayload>(entry);
                        batch.Add((entry, new BatchCommand(CommandId(entry), entry.Kind == OutboxKinds.Show ? TelephonyClient.ShowMethod : TelephonyClient.HideMethod,
                            TelephonyClient.ShowHideParameters(user.CallId, [user.UserId]))));
                        break;
                    case OutboxKinds.AttachRecord:
                        recordings.Add((entry, Read<RecordingPayload>(entry)));
                        break;
                    default:
                        outcomes[entry.Id] = new CommandOutcome.Fail($"{nameof(TelephonyCommandHandler)} does not send '{entry.Kind}'.");
                        break;
                }
            }
            catch (JsonException ex)
            {
                outcomes[entry.Id] = new CommandOutcome.Fail("The command's payload is not valid: " + ex.Message);
            }
        }

        if (batch.Count > 0)
        {
            await SendBatchAsync(memberId, batch, outcomes, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (entry, payload) in recordings)
        {
            outcomes[entry.Id] = await AttachAsync(memberId, payload, outcomes, finishes, cancellationToken).ConfigureAwait(false);
        }

        return outcomes;
    }

    private async Task<(BatchCommand? Command, CommandOutcome? Outcome)> FinishCommandAsync(OutboxEntry entry, CallPayload payload, CancellationToken ct)
    {
        var stored = await calls.GetAsync(entry.MemberId, payload.CallId, ct).ConfigureAwait(false);
        if (stored?.Record.ToFinishArguments() is not { } args)
        {
            return (null, new CommandOutcome.Fail($"Call {payload.CallId} is not in the ledger as ended; nothing to finish."));
        }

        if (args.UserId is not { } userId)
        {
            // finish needs USER_ID or USER_PHONE_INNER (REFERENCE §6.2); without an owner Bitrix24 refuses it.
            return (null, new CommandOutcome.Fail($"Call {payload.CallId} has no user (neither who clicked nor who answered is known): name one with `switchboard calls finish {payload.CallId} --portal {entry.MemberId} --status … --user ID`, then `switchboard outbox retry {entry.Id}`."));
        }

        var parameters = TelephonyClient.FinishParameters(new FinishCallRequest
        {
            CallId = args.CallId,
            UserId = userId,
            Duration = TimeSpan.FromSeconds(Math.Floor(args.Duration.TotalSeconds)),
            StatusCode = args.Status,
            FailedReason = args.FailedReason,
        });
        return (new BatchCommand(CommandId(entry), TelephonyClient.FinishMethod, parameters), null);
    }

    private async Task SendBatchAsync(string memberId, List<(OutboxEntry Entry, BatchCommand Command)> batch, Dictionary<long, CommandOutcome> outcomes, CancellationToken ct)
    {
        var r = await rest.BatchAsync(memberId, [.. batch.Select(b => b.Command)], halt: false, ct).ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            var outcome = FromError(r.Error);
            foreach (var (entry, _) in batch)
            {
                outcomes[entry.Id] = outcome;
            }

            return;
        }

        foreach (var (entry, command) in batch)
        {
            if (!r.Value.Commands.TryGetValue(command.Id, out var result))
            {
                // Not run: an earlier request of the split batch failed as a whole.
                outcomes[entry.Id] = r.Value.RequestError is { } requestError ? FromError(requestError) : new CommandOutcome.Retry("The batch did not run this command.");
                continue;
            }

            outcomes[entry.Id] = FromCommandResult(entry, result);
        }
    }

    private CommandOutcome FromCommandResult(OutboxEntry entry, BatchCommandResult result)
    {
        if (result.Error is { } error)
        {
            if (entry.Kind == OutboxKinds.Finish && IsCallNotFound(error))
            {
                LogAlreadyFinished(logger, entry.Key, entry.MemberId);
                return new CommandOutcome.Done("Bitrix24 has no open call with this CALL_ID: it was finished already (a repeat after a lost answer or a crash) or removed.");
            }

            return FromError(error);
        }

        // show/hide answer false when the call is not found (it was finished meanwhile): nothing left to show or hide.
        if (entry.Kind is OutboxKinds.Show or OutboxKinds.Hide && result.Result is { ValueKind: JsonValueKind.False })
        {
            return new CommandOutcome.Done("The call is no longer open in Bitrix24.");
        }

        return new CommandOutcome.Done();
    }

    private async Task<CommandOutcome> AttachAsync(string memberId, RecordingPayload payload,
        Dictionary<long, CommandOutcome> outcomes, Dictionary<string, long> finishes, CancellationToken ct)
    {
        // In the same pass as its finish: only once the finish is through (§6.4).
        if (finishes.TryGetValue(payload.CallId, out var finishId) && outcomes.GetValueOrDefault(finishId) is not CommandOutcome.Done)
        {
            return new CommandOutcome.Retry("Waits for the call's finish.", TimeSpan.FromSeconds(5));
        }

        byte[] content;
        try
        {
            content = await File.ReadAllBytesAsync(payload.Path, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return new CommandOutcome.Fail($"The recording {payload.Path} is gone.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new CommandOutcome.Retry($"The recording {payload.Path} cannot be read: {ex.Message}");
        }

        var name = Path.GetFileName(payload.Path);
        var r = content.Length <= InlineRecordingLimit
            ? await telephony.AttachRecordAsync(memberId, payload.CallId, name, content, ct).ConfigureAwait(false)
            : await telephony.AttachRecordByUploadAsync(memberId, payload.CallId, name, content, ct).ConfigureAwait(false);
        return r.IsSuccess ? new CommandOutcome.Done($"file {r.Value.FileId}") : FromError(r.Error);
    }

    private CommandOutcome FromError(RestError error)
    {
        if (error.Kind == RestErrorKind.PortalUnknown)
        {
            return new CommandOutcome.Fail("The portal is not installed (or was uninstalled): " + error);
        }

        return CommandOutcome.Retry.Until(error.ToString(), error.RetryAt, time.GetUtcNow());
    }

    // "Call is not found (call should be registered prior to finishing)" — the text Bitrix24's
    // telephony module answers for an unknown or already finished CALL_ID (ERROR_CORE).
    private static bool IsCallNotFound(RestError error) =>
        error.Kind == RestErrorKind.ErrorCore && error.Description?.Contains("Call is not found", StringComparison.OrdinalIgnoreCase) == true;

    private static string CommandId(OutboxEntry entry) => "c" + entry.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static T Read<T>(OutboxEntry entry) =>
        JsonSerializer.Deserialize<T>(entry.Payload, CallJson.Options) ?? throw new JsonException("The payload is null.");

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Finish {Key} for {MemberId}: Bitrix24 says the call is not open; counted as done")]
    private static partial void LogAlreadyFinished(ILogger logger, string key, string memberId);
}
