using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Outbox;

namespace Switchboard.Cli;

/// <summary><c>switchboard calls …</c> and <c>switchboard outbox …</c>: the ledger and the commands it sends.</summary>
public static partial class SwitchboardCli
{
    private static readonly string[] OutboxStatusNames = ["pending", "claimed", "done", "dead"];

    private static Command CallsCommand(Option<string?> data, Option<string?> postgres, Option<bool> json)
    {
        var limit = new Option<int>("--limit") { Description = "How many calls, most recently changed first.", DefaultValueFactory = _ => 50 };
        var portal = new Option<string?>("--portal") { Description = "Only calls of this portal (member_id)." };
        var list = new Command("list", "List calls in the ledger, most recently changed first.") { limit, portal };
        list.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(limit);
            if (n is < 1 or > 10_000)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--limit must be between 1 and 10000.").ConfigureAwait(false);
                return UsageError;
            }

            return await WithLedgerAsync(parse, data, postgres, async (calls, _, console) =>
            {
                var rows = await calls.ListAsync(n, parse.GetValue(portal), ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(rows.Select(r => r.Record), CallJson.Options));
                    return 0;
                }

                var table = new Table().AddColumns("CALL_ID", "Portal", "Direction", "Number", "User", "Requested (UTC)", "Ended (UTC)", "Status", "Duration");
                foreach (var r in rows.Select(r => r.Record))
                {
                    table.AddRow(
                        Markup.Escape(r.CallId), Markup.Escape(r.MemberId ?? "-"), r.Direction?.ToString() ?? "-",
                        Markup.Escape(r.PhoneNumber ?? "-"), r.UserId?.ToString(CultureInfo.InvariantCulture) ?? "-",
                        Utc(r.RequestedAt), Utc(r.EndedAt), Markup.Escape(r.Outcome?.Status.Code ?? (r.EndKnown ? "?" : "open")),
                        r.Outcome is { } o ? ((long)o.Duration.TotalSeconds).ToString(CultureInfo.InvariantCulture) + " s" : "-");
                }

                console.Write(table);
                console.WriteLine($"{rows.Count} call(s).");
                return 0;
            }).ConfigureAwait(false);
        });

        var callId = new Argument<string>("call-id") { Description = "Bitrix24's CALL_ID." };
        var callPortal = new Option<string?>("--portal") { Description = "The call's portal (member_id), when several portals have this CALL_ID." };
        var show = new Command("show", "Show everything the ledger knows about one call.") { callId, callPortal };
        show.SetAction((parse, ct) => WithLedgerAsync(parse, data, postgres, async (calls, outbox, console) =>
        {
            var stored = parse.GetValue(callPortal) is { } member
                ? await calls.GetAsync(member, parse.GetValue(callId)!, ct).ConfigureAwait(false)
                : await calls.GetAsync(parse.GetValue(callId)!, ct).ConfigureAwait(false);
            if (stored is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"No call {parse.GetValue(callId)} in the ledger.");
                return NotFound;
            }

            // Pretty JSON is the full record for people too: every field, nothing summarised away.
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(stored.Record, PrettyCallJson));
            return 0;
        }));

        var status = new Option<string>("--status") { Description = "STATUS_CODE for Bitrix24: 200 answered, 304 missed, 486 busy, 603 declined, 603-S cancelled, … (REFERENCE §6.2).", Required = true };
        var duration = new Option<int>("--duration") { Description = "Talk time in seconds.", DefaultValueFactory = _ => 0 };
        var user = new Option<long?>("--user") { Description = "The Bitrix24 user to report the call for, when the ledger knows neither who clicked nor who answered." };
        var finish = new Command("finish", "Finish a call by hand (one the PBX left open): the ledger records it and the server's outbox sends telephony.externalCall.finish.") { callId, status, duration, user, callPortal };
        finish.SetAction(async (parse, ct) =>
        {
            var code = CallStatusCode.From(parse.GetValue(status));
            var seconds = parse.GetValue(duration);
            // A documented code (200, 304, 603-S, OTHER, …) or any three-digit SIP code: Bitrix24 keeps it as given.
            var userId = parse.GetValue(user);
            if (code is not { } c || !(c.IsKnown || (c.Code.Length == 3 && c.Code.All(char.IsAsciiDigit))) || seconds < 0 || userId is <= 0)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--status must be a status code such as 200, 304 or 603-S, --duration a number of seconds (0 or more), and --user a Bitrix24 user id.").ConfigureAwait(false);
                return UsageError;
            }

            return await WithLedgerAsync(parse, data, postgres, async (calls, outbox, console) =>
            {
                var id = parse.GetValue(callId)!;
                var now = await StoreNowAsync(outbox, ct).ConfigureAwait(false);
                var applied = await calls.ApplyAsync(new ManualFinish(id, code.Value, TimeSpan.FromSeconds(seconds), now, userId), now, ct, parse.GetValue(callPortal)).ConfigureAwait(false);
                if (applied is not { } result)
                {
                    parse.InvocationConfiguration.Error.WriteLine($"No call {id} in the ledger; nothing finished.");
                    return NotFound;
                }

                var queued = result.NewCommands.Any(c => c is FinishCall);
                console.WriteLine(queued
                    ? $"Call {id} finished in the ledger with {result.Record.Outcome!.Status.Code}, {seconds} s; the server sends the finish to Bitrix24."
                    : $"Call {id} was already finished; the ledger kept the best outcome ({result.Record.Outcome?.Status.Code}). No new finish is queued; if its finish is dead-lettered ('switchboard outbox list --dead'), 'switchboard outbox retry ID' sends it again with what the ledger knows now.");
                return 0;
            }).ConfigureAwait(false);
        });

        return new Command("calls", "The call ledger: every call from request to finish.") { list, show, finish };
    }

    private static Command OutboxCommand(Option<string?> data, Option<string?> postgres, Option<bool> json)
    {
        var limit = new Option<int>("--limit") { Description = "How many commands, oldest first.", DefaultValueFactory = _ => 100 };
        var status = new Option<string?>("--status") { Description = "Only commands in this state: pending, claimed, done or dead." };
        var dead = new Option<bool>("--dead") { Description = "Only the dead-letter list (same as --status dead)." };
        var list = new Command("list", "List outbox commands (what Switchboard sends to Bitrix24 and the PBX) with their attempts and last error.") { limit, status, dead };
        list.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(limit);
            var wanted = parse.GetValue(dead) ? "dead" : parse.GetValue(status)?.ToLowerInvariant();
            if (n is < 1 or > 10_000 || (wanted is not null && !OutboxStatusNames.Contains(wanted)))
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--limit must be between 1 and 10000, and --status one of pending, claimed, done, dead.").ConfigureAwait(false);
                return UsageError;
            }

            OutboxStatus? filter = wanted is null ? null : Enum.Parse<OutboxStatus>(wanted, ignoreCase: true);
            return await WithLedgerAsync(parse, data, postgres, async (_, outbox, console) =>
            {
                var rows = await outbox.ListAsync(filter, n, ct).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(rows, CallJson.Options));
                    return 0;
                }

                var table = new Table().AddColumns("ID", "Kind", "Key", "Portal", "Status", "Attempts", "Next attempt (UTC)", "Last error");
                foreach (var e in rows)
                {
                    table.AddRow(
                        e.Id.ToString(CultureInfo.InvariantCulture), Markup.Escape(e.Kind), Markup.Escape(e.Key), Markup.Escape(e.MemberId),
                        e.Status.ToString().ToLowerInvariant(), e.Attempts.ToString(CultureInfo.InvariantCulture),
                        e.Status is OutboxStatus.Pending ? Utc(e.NextAttemptAt) : "-", Markup.Escape(e.LastError ?? "-"));
                }

                console.Write(table);
                console.WriteLine($"{rows.Count} command(s).");
                return 0;
            }).ConfigureAwait(false);
        });

        var id = new Argument<long?>("id") { Description = "The command's id (from outbox list).", Arity = ArgumentArity.ZeroOrOne };
        var allDead = new Option<bool>("--all-dead") { Description = "Every dead command." };
        var retry = new Command("retry", "Put dead commands back in the queue: attempts reset, due now.") { id, allDead };
        retry.SetAction(async (parse, ct) =>
        {
            var one = parse.GetValue(id);
            var all = parse.GetValue(allDead);
            if (one is null == !all)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("Give a command id or --all-dead (one of them).").ConfigureAwait(false);
                return UsageError;
            }

            return await WithLedgerAsync(parse, data, postgres, async (_, outbox, console) =>
            {
                if (all)
                {
                    var n = await outbox.RetryAllDeadAsync(await StoreNowAsync(outbox, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                    console.WriteLine($"{n} dead command(s) queued again.");
                    return 0;
                }

                if (!await outbox.RetryAsync(one!.Value, await StoreNowAsync(outbox, ct).ConfigureAwait(false), ct).ConfigureAwait(false))
                {
                    parse.InvocationConfiguration.Error.WriteLine($"No dead command with id {one}; only dead commands can be retried (see 'switchboard outbox list --dead').");
                    return NotFound;
                }

                console.WriteLine($"Command {one} queued again.");
                return 0;
            }).ConfigureAwait(false);
        });

        return new Command("outbox", "Commands waiting to be sent, sent, and given up on.") { list, retry };
    }

    private static readonly JsonSerializerOptions PrettyCallJson = new(CallJson.Options) { WriteIndented = true };

    private static Task<int> WithLedgerAsync(ParseResult parse, Option<string?> data, Option<string?> postgres, Func<SqlCallStore, SqlOutboxStore, IAnsiConsole, Task<int>> work) =>
        WithOptionsAsync(parse, data, postgres, async (options, console) =>
        {
            if (!options.UsesPostgres && !File.Exists(options.LedgerPath))
            {
                // Opening would create an empty file (perhaps as the wrong user): say what is missing instead.
                await parse.InvocationConfiguration.Error.WriteLineAsync($"No ledger at {options.LedgerPath}. Run 'switchboard serve' (this version) on this data directory first.").ConfigureAwait(false);
                return StoreUnavailable;
            }

            // No InitializeAsync here either: the server creates the tables; a store without them fails with its reason.
            await using var outbox = options.CreateOutboxStore();
            await using var calls = options.CreateCallStore(outbox);
            try
            {
                return await work(calls, outbox, console).ConfigureAwait(false);
            }
            catch (AmbiguousCallException ex)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return UsageError;
            }
        });

    private static string Utc(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) ?? "-";

    /// <summary>
    /// Now by the store's clock, for the due times the command writes: the servers compare them on the
    /// database's clock (<see cref="Outbox.StoreClock"/>), and this machine's may be off. SQLite: this machine's.
    /// </summary>
    private static async Task<DateTimeOffset> StoreNowAsync(Outbox.SqlOutboxStore outbox, CancellationToken ct) =>
        (await outbox.ReadClockAsync(TimeProvider.System, ct).ConfigureAwait(false))?.Database ?? DateTimeOffset.UtcNow;
}
