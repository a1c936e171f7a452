using System.Text.Json;
using Microsoft.Extensions.Options;
using Switchboard.Bitrix24.Rest;
using Switchboard.Bitrix24.Telephony;
using Switchboard.Journal;
using Switchboard.Outbox;

namespace Switchboard.Portals.Setup;

/// <summary>
/// The install flow, run for each journaled ONAPPINSTALL and ONAPPUPDATE (<see cref="OutboxKinds.PortalSetup"/>):
/// verify the install with <c>app.info</c>, bind the events, add the external lines, load the users'
/// extensions. Each step's outcome is recorded on the portal (<c>switchboard portals show</c>). Every step
/// is safe to repeat, so a retry runs them all again.
/// </summary>
public sealed partial class PortalSetupHandler(
    PortalClient portalClient,
    TelephonyClient telephony,
    IJournalStore store,
    PortalDirectory portals,
    Bitrix24.OAuth.OAuthServerClient oauth,
    InstallPolicy policy,
    IOptions<Bitrix24RestOptions> restOptions,
    IOptionsMonitor<PortalSetupOptions> options,
    TimeProvider time,
    ILogger<PortalSetupHandler> logger) : IOutboxHandler
{
    /// <summary>The step names, in the order they run.</summary>
    public static class Steps
    {
        /// <summary><c>app.info</c> at the portal with the install's token.</summary>
        public const string Verify = "verify";

        /// <summary><c>event.bind</c> of every event in <see cref="BoundEvents"/>.</summary>
        public const string Bind = "bind";

        /// <summary><c>telephony.externalLine.add</c> of every configured line.</summary>
        public const string Lines = "lines";

        /// <summary><c>user.get</c>, every page, stored with <c>UF_PHONE_INNER</c>.</summary>
        public const string Users = "users";

        /// <summary>All of them, in order.</summary>
        public static IReadOnlyList<string> All { get; } = [Verify, Bind, Lines, Users];
    }

    /// <summary>
    /// The events bound to the handler. The five telephony events (REFERENCE.md §5; the Market requires
    /// ONEXTERNALCALLSTART and ONEXTERNALCALLBACKSTART, §6.11), plus ONAPPUPDATE and ONAPPUNINSTALL: only
    /// the install event goes to the installation URL by itself (§2.5); the others are delivered to
    /// bound handlers, and "removing or updating the app deletes its handlers, so the installer of each
    /// version must bind them again" (§1.4, event-bind.md). Without ONAPPUNINSTALL bound, an uninstall
    /// would never reach Switchboard; without ONAPPUPDATE, neither would the update's new application token.
    /// </summary>
    public static IReadOnlyList<string> BoundEvents { get; } =
    [
        "ONEXTERNALCALLSTART", "ONEXTERNALCALLBACKSTART",
        "ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND",
        "ONAPPUPDATE", "ONAPPUNINSTALL",
    ];

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Kinds { get; } = [OutboxKinds.PortalSetup];

    /// <inheritdoc/>
    public async Task<IReadOnlyDictionary<long, CommandOutcome>> ExecuteAsync(string memberId, IReadOnlyList<OutboxEntry> entries, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var outcomes = new Dictionary<long, CommandOutcome>();
        var valid = new List<OutboxEntry>();
        foreach (var entry in entries)
        {
            if (ReadEventName(entry.Payload) is { } eventName)
            {
                valid.Add(entry);
                LogStarting(logger, memberId, eventName, entry.Id);
            }
            else
            {
                outcomes[entry.Id] = new CommandOutcome.Fail("The payload is not {\"journalId\":…,\"event\":\"ONAPPINSTALL\"|\"ONAPPUPDATE\"}.");
            }
        }

        if (valid.Count > 0)
        {
            // Several installs or updates of one portal waiting together need one run: each run does
            // everything again on the portal's current tokens.
            var outcome = await RunBoundedAsync(memberId, cancellationToken).ConfigureAwait(false);
            foreach (var entry in valid)
            {
                outcomes[entry.Id] = outcome;
            }
        }

        return outcomes;
    }

    // One portal's set-up never holds the others' for long: see PortalSetupOptions.MaxRunTime.
    private async Task<CommandOutcome> RunBoundedAsync(string memberId, CancellationToken cancellationToken)
    {
        var limit = options.CurrentValue.MaxRunTime;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(limit);
        try
        {
            var outcome = await RunAsync(memberId, budget.Token).ConfigureAwait(false);
            return budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested && outcome is not CommandOutcome.Done
                ? Overran(memberId, limit)
                : outcome;
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return Overran(memberId, limit);
        }
    }

    private CommandOutcome.Retry Overran(string memberId, TimeSpan limit)
    {
        var text = $"The set-up took longer than {PortalSetupOptions.SectionName}:MaxRunTime ({limit.TotalSeconds:0} s); it is retried, so other portals' set-ups do not wait behind it.";
        LogFailed(logger, memberId, "all", text);
        return CommandOutcome.Retry.Until(text, null, time.GetUtcNow());
    }

    /// <summary>Runs every step for the portal and says how it went.</summary>
    public async Task<CommandOutcome> RunAsync(string memberId, CancellationToken cancellationToken)
    {
        var portal = await store.FindPortalAsync(memberId, cancellationToken).ConfigureAwait(false);
        if (portal is not { State: PortalState.Installed })
        {
            var gone = portal is null ? "Switchboard knows no portal with this member_id." : "The portal uninstalled Switchboard after this install.";
            LogFailed(logger, memberId, Steps.Verify, gone);
            return new CommandOutcome.Fail(gone);
        }

        if (restOptions.Value.Problems() is { Count: > 0 } problems)
        {
            // The settings may be filled in after the first install arrives: wait for them without
            // counting attempts. Problems() names the settings and never prints the secret.
            var text = "The Bitrix24 REST settings are incomplete: " + string.Join(" ", problems);
            await RecordAsync(memberId, Steps.Verify, SetupStatus.Failed, text, cancellationToken).ConfigureAwait(false);
            await RecordNotRunAsync(memberId, Steps.Verify, cancellationToken).ConfigureAwait(false);
            return new CommandOutcome.Defer(text, TimeSpan.FromMinutes(1));
        }

        if (portal.InstallRefused?.StartsWith(EventVerifier.PendingPrefix, StringComparison.Ordinal) == true)
        {
            var pending = await ProvePendingAsync(memberId, cancellationToken).ConfigureAwait(false);
            if (pending is not null)
            {
                await RecordNotRunAsync(memberId, Steps.Verify, cancellationToken).ConfigureAwait(false);
                return pending;
            }

            portal = await store.FindPortalAsync(memberId, cancellationToken).ConfigureAwait(false) ?? portal;
        }

        var verified = await VerifyAsync(memberId, portal, cancellationToken).ConfigureAwait(false);
        if (verified is not null)
        {
            await RecordNotRunAsync(memberId, Steps.Verify, cancellationToken).ConfigureAwait(false);
            return verified;
        }

        // After a verified install the remaining steps are independent: each runs and records its own
        // outcome, so one missing setting does not hide what the others would have said.
        var failures = new List<StepFailure>();
        foreach (var step in new Func<string, CancellationToken, Task<StepFailure?>>[] { BindAsync, AddLinesAsync, LoadUsersAsync })
        {
            if (await step(memberId, cancellationToken).ConfigureAwait(false) is { } failure)
            {
                failures.Add(failure);
            }
        }

        if (failures.Count == 0)
        {
            LogDone(logger, memberId);
            return new CommandOutcome.Done("Verified, events bound, lines added, users loaded.");
        }

        var retryAt = failures.Select(f => f.RetryAt).Where(t => t is not null).DefaultIfEmpty(null).Max();
        return CommandOutcome.Retry.Until(string.Join(" ", failures.Select(f => $"{f.Step}: {f.Detail}")), retryAt, time.GetUtcNow());
    }

    /// <summary>
    /// app.info at the portal with the install's token (REFERENCE.md §2.1: "The docs suggest first
    /// checking the access_token with a REST call"; §2.4 app.info). The call goes to the stored
    /// client_endpoint, which the install policy tied to the portal's own allowed host, with the tokens
    /// stored for this member_id, so an answer is the portal vouching for this member_id's install.
    /// Null when verified; otherwise the outcome to return.
    /// </summary>
    private async Task<CommandOutcome?> VerifyAsync(string memberId, Portal portal, CancellationToken cancellationToken)
    {
        var info = await portalClient.AppInfoAsync(memberId, cancellationToken).ConfigureAwait(false);
        string? refusal = null;
        if (!info.IsSuccess)
        {
            if (!IsRefusal(info.Error))
            {
                var text = $"app.info failed: {info.Error}";
                await RecordAsync(memberId, Steps.Verify, SetupStatus.Failed, text, cancellationToken).ConfigureAwait(false);
                return CommandOutcome.Retry.Until(text, info.Error.RetryAt, time.GetUtcNow());
            }

            refusal = $"The portal refused the install's tokens: {info.Error}";
        }
        else if (info.Value.Installed is false)
        {
            refusal = "app.info says the application is not installed on this portal (INSTALLED=false).";
        }
        else if (AnsweredMemberId(info.Value.Raw) is { } answered && !string.Equals(answered, memberId, StringComparison.OrdinalIgnoreCase))
        {
            refusal = "app.info answered for another portal (member_id differs).";
        }

        if (refusal is not null)
        {
            await store.SetInstallRefusedAsync(memberId, refusal, cancellationToken).ConfigureAwait(false);
            portals.Invalidate(memberId);
            await RecordAsync(memberId, Steps.Verify, SetupStatus.Failed, refusal + " Events of this portal are refused until an install is verified.", cancellationToken).ConfigureAwait(false);
            LogRefused(logger, memberId, refusal);
            return new CommandOutcome.Fail(refusal);
        }

        if (portal.InstallRefused is not null)
        {
            await store.SetInstallRefusedAsync(memberId, null, cancellationToken).ConfigureAwait(false);
            portals.Invalidate(memberId);
        }

        var v = info.Value!;
        await RecordAsync(memberId, Steps.Verify, SetupStatus.Ok,
            $"app.info: installed, status {v.Status?.Code ?? "?"}, version {v.Version ?? "?"}.", cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// An install kept pending because it could not be proven when it arrived (no client credentials,
    /// or the OAuth server did not answer): its stored refresh token is exchanged at the OAuth server
    /// now (https://apidocs.bitrix24.com/settings/oauth/index.html), and the portal takes the endpoint and the pair the server names. Null
    /// when proven; otherwise the outcome to return.
    /// </summary>
    private async Task<CommandOutcome?> ProvePendingAsync(string memberId, CancellationToken cancellationToken)
    {
        var tokens = await store.GetPortalTokensAsync(memberId, cancellationToken).ConfigureAwait(false);
        string? refusal = null;
        if (tokens?.RefreshToken is not { Length: > 0 } refreshToken)
        {
            refusal = "The pending install has no refresh token to prove it with.";
        }
        else
        {
            var result = await oauth.ExchangeAsync(refreshToken, restOptions.Value.AttemptTimeout).ConfigureAwait(false);
            if (!result.IsSuccess)
            {
                if (result.Error.Kind != RestErrorKind.InvalidGrant)
                {
                    var text = $"The OAuth server could not prove the pending install: {result.Error}";
                    await RecordAsync(memberId, Steps.Verify, SetupStatus.Failed, text, cancellationToken).ConfigureAwait(false);
                    return CommandOutcome.Retry.Until(text, result.Error.RetryAt, time.GetUtcNow());
                }

                refusal = $"The OAuth server refused the pending install's refresh token: {result.Error}";
            }
            else if (!string.Equals(result.Value.MemberId, memberId, StringComparison.OrdinalIgnoreCase))
            {
                refusal = "The OAuth server issued the pending install's refresh token for another portal (member_id differs).";
            }
            else if (policy.CheckEndpoint(result.Value.ClientEndpoint, out var domain) is { } endpointRefusal)
            {
                refusal = endpointRefusal;
            }
            else
            {
                // The pair is stored first: the exchanged refresh token is spent.
                var grant = result.Value;
                await store.SavePortalTokensAsync(memberId, grant.Tokens.AccessToken, grant.Tokens.RefreshToken, grant.Tokens.ExpiresAt, CancellationToken.None).ConfigureAwait(false);
                await store.SetPortalEndpointAsync(memberId, grant.ClientEndpoint!, domain, cancellationToken).ConfigureAwait(false);
                await store.SetInstallRefusedAsync(memberId, null, cancellationToken).ConfigureAwait(false);
                portals.Invalidate(memberId);
                LogProven(logger, memberId);
                return null;
            }
        }

        await store.SetInstallRefusedAsync(memberId, refusal, cancellationToken).ConfigureAwait(false);
        portals.Invalidate(memberId);
        await RecordAsync(memberId, Steps.Verify, SetupStatus.Failed, refusal + " Events of this portal are refused until an install is verified.", cancellationToken).ConfigureAwait(false);
        LogRefused(logger, memberId, refusal);
        return new CommandOutcome.Fail(refusal);
    }

    /// <summary>
    /// A definitive "these are not this portal's tokens": the portal answered and refused them
    /// (401 NO_AUTH_FOUND, REFERENCE.md §3.4; <c>invalid_token</c>, §3.4 UNVERIFIED but refused all the
    /// same); the OAuth server refused the install's refresh token (<c>invalid_grant</c>, §3.3, now or
    /// earlier: NEEDS_REAUTHORISATION); or the install brought no tokens at all (PORTAL_UNKNOWN), though
    /// a real ONAPPINSTALL always carries access_token and refresh_token (§2.1) — an install that cannot
    /// be checked is not trusted. Everything else (limits, 5xx, timeouts, our own client settings) may
    /// get better: retried.
    /// </summary>
    private static bool IsRefusal(RestError error) =>
        error.Kind is RestErrorKind.NoAuthFound or RestErrorKind.InvalidGrant or RestErrorKind.NeedsReauthorisation or RestErrorKind.PortalUnknown
        || string.Equals(error.Code, "invalid_token", StringComparison.OrdinalIgnoreCase);

    /// <summary>The member_id an app.info answer names, if it names one. REFERENCE.md §2.4 lists no such
    /// field, so its absence is normal; where one is present it must be this portal's.</summary>
    private static string? AnsweredMemberId(JsonElement result)
    {
        if (result.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var scope in new[] { result, result.TryGetProperty("install", out var install) ? install : default })
        {
            if (scope.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var p in scope.EnumerateObject())
            {
                if (string.Equals(p.Name, "member_id", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                {
                    return p.Value.GetString();
                }
            }
        }

        return null;
    }

    private async Task<StepFailure?> BindAsync(string memberId, CancellationToken cancellationToken)
    {
        var (handler, problem) = options.CurrentValue.EventsHandler();
        if (handler is null)
        {
            return await FailAsync(memberId, Steps.Bind, problem!, null, cancellationToken).ConfigureAwait(false);
        }

        var bound = 0;
        var already = 0;
        foreach (var eventName in BoundEvents)
        {
            // event.bind on an already bound handler answers an error that BindEventAsync reads as
            // AlreadyBound: "Treat it as idempotent success" (REFERENCE.md §1.4, duplicate binding).
            var r = await portalClient.BindEventAsync(memberId, eventName, handler, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!r.IsSuccess)
            {
                return await FailAsync(memberId, Steps.Bind, $"event.bind {eventName} to {handler} failed: {r.Error}", r.Error.RetryAt, cancellationToken).ConfigureAwait(false);
            }

            if (r.Value == EventBindOutcome.AlreadyBound)
            {
                already++;
            }
            else
            {
                bound++;
            }
        }

        await RecordAsync(memberId, Steps.Bind, SetupStatus.Ok,
            $"{BoundEvents.Count} event(s) bound to {handler} ({bound} new, {already} already bound): {string.Join(", ", BoundEvents)}.", cancellationToken).ConfigureAwait(false);
        return null;
    }

    private async Task<StepFailure?> AddLinesAsync(string memberId, CancellationToken cancellationToken)
    {
        var lines = options.CurrentValue.Lines;
        if (lines.Count == 0)
        {
            await RecordAsync(memberId, Steps.Lines, SetupStatus.Ok, $"No lines configured ({PortalSetupOptions.SectionName}:Lines).", cancellationToken).ConfigureAwait(false);
            return null;
        }

        var added = new List<string>();
        var existing = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            if (string.IsNullOrWhiteSpace(line.Number))
            {
                return await FailAsync(memberId, Steps.Lines, $"{PortalSetupOptions.SectionName}:Lines:{i}:Number is not set.", null, cancellationToken).ConfigureAwait(false);
            }

            var number = line.Number.Trim();
            var r = await telephony.AddLineAsync(memberId, number, line.Name, line.CrmAutoCreate, cancellationToken).ConfigureAwait(false);
            if (r.IsSuccess)
            {
                added.Add(number);
            }
            else if (r.Error is { Kind: RestErrorKind.ErrorCore, Description: { } d } && d.Contains("Line already exists", StringComparison.OrdinalIgnoreCase))
            {
                // REFERENCE.md §6.6: add answers ERROR_CORE "Line already exists" for a NUMBER the app
                // already has; the line is there, which is all this step wants.
                existing.Add(number);
            }
            else
            {
                return await FailAsync(memberId, Steps.Lines, $"telephony.externalLine.add {number} failed: {r.Error}", r.Error.RetryAt, cancellationToken).ConfigureAwait(false);
            }
        }

        var detail = $"{lines.Count} line(s)"
            + (added.Count > 0 ? $"; added: {string.Join(", ", added)}" : "")
            + (existing.Count > 0 ? $"; already there: {string.Join(", ", existing)}" : "") + ".";
        await RecordAsync(memberId, Steps.Lines, SetupStatus.Ok, detail, cancellationToken).ConfigureAwait(false);
        return null;
    }

    private async Task<StepFailure?> LoadUsersAsync(string memberId, CancellationToken cancellationToken)
    {
        // GetUsersAsync reads every page (REFERENCE.md §6.9, pages of 50): only a complete list replaces
        // the stored one, never a partial one (FIELD-LESSONS #6).
        var r = await portalClient.GetUsersAsync(memberId, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            return await FailAsync(memberId, Steps.Users, $"user.get failed: {r.Error}", r.Error.RetryAt, cancellationToken).ConfigureAwait(false);
        }

        var users = r.Value.Select(u => new PortalUserRecord(
            u.Id,
            string.Join(' ', new[] { u.Name, u.LastName }.Where(n => !string.IsNullOrWhiteSpace(n))) is { Length: > 0 } name ? name : null,
            u.PhoneInner?.Trim() is { Length: > 0 } inner ? inner : null,
            u.Active ?? true)).ToList();
        await store.ReplacePortalUsersAsync(memberId, users, cancellationToken).ConfigureAwait(false);
        await RecordAsync(memberId, Steps.Users, SetupStatus.Ok,
            $"{users.Count} user(s), {users.Count(u => u.Extension is not null)} with an extension (UF_PHONE_INNER).", cancellationToken).ConfigureAwait(false);
        return null;
    }

    private async Task<StepFailure> FailAsync(string memberId, string step, string detail, DateTimeOffset? retryAt, CancellationToken cancellationToken)
    {
        await RecordAsync(memberId, step, SetupStatus.Failed, detail, cancellationToken).ConfigureAwait(false);
        return new StepFailure(step, detail, retryAt);
    }

    private async Task RecordNotRunAsync(string memberId, string failedStep, CancellationToken cancellationToken)
    {
        foreach (var step in Steps.All.SkipWhile(s => s != failedStep).Skip(1))
        {
            await RecordAsync(memberId, step, SetupStatus.Pending, $"Not run: {failedStep} failed.", cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RecordAsync(string memberId, string step, SetupStatus status, string detail, CancellationToken cancellationToken)
    {
        // RestError texts hold codes and descriptions only, never a token (RestError's contract).
        if (status == SetupStatus.Failed)
        {
            LogFailed(logger, memberId, step, detail);
        }

        await store.RecordSetupStepAsync(new SetupStepRecord(memberId, step, status, detail, time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
    }

    private static string? ReadEventName(string payload)
    {
        try
        {
            using var doc = JsonDocument.Parse(payload);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("event", out var ev) && ev.ValueKind == JsonValueKind.String
                && ev.GetString() is "ONAPPINSTALL" or "ONAPPUPDATE"
                ? ev.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record StepFailure(string Step, string Detail, DateTimeOffset? RetryAt);

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "Setting up portal {MemberId} after {EventName} (outbox #{OutboxId})")]
    private static partial void LogStarting(ILogger logger, string memberId, string eventName, long outboxId);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Portal {MemberId} set up: verified, events bound, lines added, users loaded")]
    private static partial void LogDone(ILogger logger, string memberId);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Portal {MemberId} setup step {Step} failed: {Detail}")]
    private static partial void LogFailed(ILogger logger, string memberId, string step, string detail);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "Portal {MemberId}'s pending install was proven at the OAuth server")]
    private static partial void LogProven(ILogger logger, string memberId);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Portal {MemberId} refused the install's tokens; its events are refused until an install is verified: {Reason}")]
    private static partial void LogRefused(ILogger logger, string memberId, string reason);
}
