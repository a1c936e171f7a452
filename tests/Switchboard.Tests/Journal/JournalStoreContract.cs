using System.Text;
using Switchboard.Journal;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Journal;

/// <summary>
/// The store contract, one suite for both implementations: SQLite and PostgreSQL must behave the
/// same in everything the journal promises (RELIABILITY.md: acked means kept, once not twice).
/// </summary>
public abstract class JournalStoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    protected IJournalStore Store { get; private set; } = null!;

    /// <summary>A new, empty store for one test.</summary>
    protected abstract Task<IJournalStore> CreateStoreAsync();

    /// <summary>A second store object on the same database (another process, another instance).</summary>
    protected abstract IJournalStore OpenSameStore();

    public virtual async Task InitializeAsync()
    {
        Store = await CreateStoreAsync();
        await Store.InitializeAsync(CancellationToken.None);
    }

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    protected static string Hash(char c) => new(c, 64);

    protected static JournalAppend Event(string memberId, string dedupKey, PortalGuard? guard = null, string name = "ONEXTERNALCALLSTART", string? callId = "call-1", PortalChange? change = null, DateTimeOffset? at = null) =>
        new(at ?? T0, memberId, name, callId, 1055, T0.AddSeconds(-1), "application/x-www-form-urlencoded", Encoding.UTF8.GetBytes($"event={name}&data%5BCALL_ID%5D={callId}"), dedupKey, guard ?? PortalGuard.None, change);

    protected static PortalInstall Install(string memberId, string tokenHash, string domain = "acme.bitrix24.com") =>
        new(memberId, domain, $"https://{domain}/rest/", "https://oauth.bitrix.info/rest/", "telephony,crm", "L", tokenHash, "1", "en",
            new PortalTokens("access-secret", "refresh-secret", T0.AddHours(1), 1));

    private async Task InstallAsync(string memberId, string tokenHash, string? untrusted = null)
    {
        var r = await Store.AppendAsync([Event(memberId, "install-" + memberId + tokenHash[..4] + (untrusted is null ? "" : "u"), name: "ONAPPINSTALL", callId: null, change: Install(memberId, tokenHash) with { Untrusted = untrusted })], default);
        r[0].Status.Should().Be(AppendStatus.Stored);
    }

    [Fact]
    public async Task An_appended_event_reads_back_with_every_field()
    {
        var result = await Store.AppendAsync([Event("m1", "k1", callId: "externalCall.abc.1")], default);

        result.Should().ContainSingle().Which.Status.Should().Be(AppendStatus.Stored);
        var e = await Store.GetEventAsync(result[0].Id!.Value, default);
        e.Should().NotBeNull();
        e!.MemberId.Should().Be("m1");
        e.EventName.Should().Be("ONEXTERNALCALLSTART");
        e.CallId.Should().Be("externalCall.abc.1");
        e.HandlerId.Should().Be(1055);
        e.ReceivedAt.Should().Be(T0);
        e.SentAt.Should().Be(T0.AddSeconds(-1));
        e.ContentType.Should().Be("application/x-www-form-urlencoded");
        e.Body.Should().Be("event=ONEXTERNALCALLSTART&data%5BCALL_ID%5D=externalCall.abc.1");
        e.DedupKey.Should().Be("k1");
    }

    [Fact]
    public async Task A_body_appended_as_UTF8_bytes_reads_back_as_the_same_text_on_both_write_paths()
    {
        // Bodies travel as UTF-8 bytes from the request to the statement (JournalAppend.Body): a
        // Cyrillic name, a '+' and an emoji must come back as the same characters, both through the
        // batch insert (an ordinary event) and the single-event one (an install, which changes a portal).
        const string Text = "event=ONEXTERNALCALLSTART&data%5BNAME%5D=Иван Петров+1 📞";
        var plain = Event("m1", "utf8-plain") with { Body = Encoding.UTF8.GetBytes(Text) };
        var install = Event("m9", "utf8-install", name: "ONAPPINSTALL", callId: null, change: Install("m9", Hash('9'))) with { Body = Encoding.UTF8.GetBytes(Text) };

        var stored = await Store.AppendAsync([plain], default);
        var installed = await Store.AppendAsync([install], default);

        (await Store.GetEventAsync(stored[0].Id!.Value, default))!.Body.Should().Be(Text);
        (await Store.GetEventAsync(installed[0].Id!.Value, default))!.Body.Should().Be(Text);
        (await Store.ReadAfterAsync(0, 10, default)).Select(e => e.Body).Should().Equal(Text, Text);
    }

    [Fact]
    public async Task The_same_dedup_key_is_stored_once_and_reports_the_first_id()
    {
        var first = await Store.AppendAsync([Event("m1", "same")], default);
        var second = await Store.AppendAsync([Event("m1", "same")], default);

        second[0].Should().Be(new AppendResult(AppendStatus.Duplicate, first[0].Id));
        (await Store.CountEventsAsync(default)).Should().Be(1);
    }

    [Fact]
    public async Task A_batch_holding_one_event_twice_stores_it_once()
    {
        var results = await Store.AppendAsync([Event("m1", "a"), Event("m1", "b"), Event("m1", "a")], default);

        results.Select(r => r.Status).Should().Equal(AppendStatus.Stored, AppendStatus.Stored, AppendStatus.Duplicate);
        results[2].Id.Should().Be(results[0].Id);
        (await Store.CountEventsAsync(default)).Should().Be(2);
    }

    [Fact]
    public async Task Fifty_parallel_appends_of_one_event_from_two_store_instances_keep_one_row()
    {
        await using var other = OpenSameStore();
        var tasks = Enumerable.Range(0, 50).Select(i => (i % 2 == 0 ? Store : other).AppendAsync([Event("m1", "parallel")], default));

        var results = (await Task.WhenAll(tasks)).Select(r => r[0]).ToList();

        results.Count(r => r.Status == AppendStatus.Stored).Should().Be(1);
        results.Count(r => r.Status == AppendStatus.Duplicate).Should().Be(49);
        results.Select(r => r.Id).Distinct().Should().ContainSingle();
        (await Store.CountEventsAsync(default)).Should().Be(1);
    }

    [Fact]
    public async Task A_token_guard_without_an_installed_portal_rejects_and_stores_nothing()
    {
        var results = await Store.AppendAsync([Event("nobody", "k", PortalGuard.Token(Hash('a')))], default);

        results[0].Should().Be(new AppendResult(AppendStatus.PortalRejected, null));
        (await Store.CountEventsAsync(default)).Should().Be(0);
    }

    [Fact]
    public async Task An_install_creates_the_portal_and_keeps_its_tokens_apart()
    {
        await InstallAsync("m1", Hash('a'));

        var portal = await Store.FindPortalAsync("m1", default);
        portal.Should().NotBeNull();
        portal!.State.Should().Be(PortalState.Installed);
        portal.Domain.Should().Be("acme.bitrix24.com");
        portal.ClientEndpoint.Should().Be("https://acme.bitrix24.com/rest/");
        portal.ServerEndpoint.Should().Be("https://oauth.bitrix.info/rest/");
        portal.Scope.Should().Be("telephony,crm");
        portal.ApplicationStatus.Should().Be("L");
        portal.TokenHash.Should().Be(Hash('a'));
        portal.Version.Should().Be("1");
        portal.LanguageId.Should().Be("en");
        portal.HasOAuthTokens.Should().BeTrue();
        portal.InstalledAt.Should().Be(T0);
        var tokens = await Store.GetPortalTokensAsync("m1", default);
        tokens.Should().Be(new PortalTokens("access-secret", "refresh-secret", T0.AddHours(1), 1));
        (await Store.ListPortalsAsync(default)).Should().ContainSingle(p => p.MemberId == "m1");
    }

    [Fact]
    public async Task Guards_accept_the_right_token_and_reject_a_wrong_one()
    {
        await InstallAsync("m1", Hash('a'));

        var results = await Store.AppendAsync(
        [
            Event("m1", "right", PortalGuard.Token(Hash('a'))),
            Event("m1", "wrong", PortalGuard.Token(Hash('b'))),
            Event("m1", "installed", PortalGuard.Installed),
            Event("m2", "other-portal", PortalGuard.Token(Hash('a'))),
        ], default);

        results.Select(r => r.Status).Should().Equal(AppendStatus.Stored, AppendStatus.PortalRejected, AppendStatus.Stored, AppendStatus.PortalRejected);
    }

    [Fact]
    public async Task An_update_replaces_the_token_and_the_old_one_stops_working()
    {
        await InstallAsync("m1", Hash('a'));
        var update = new PortalUpdate("m1", Hash('b'), "2", "P", null, new PortalTokens("access-2", "refresh-2", null, 7));
        (await Store.AppendAsync([Event("m1", "update", PortalGuard.Token(Hash('a')), "ONAPPUPDATE", null, update)], default))[0].Status.Should().Be(AppendStatus.Stored);

        var portal = await Store.FindPortalAsync("m1", default);
        portal!.TokenHash.Should().Be(Hash('b'));
        portal.Version.Should().Be("2");
        portal.ApplicationStatus.Should().Be("P");
        portal.Scope.Should().Be("telephony,crm");
        (await Store.GetPortalTokensAsync("m1", default)).Should().Be(new PortalTokens("access-2", "refresh-2", null, 7));
        var after = await Store.AppendAsync([Event("m1", "old", PortalGuard.Token(Hash('a'))), Event("m1", "new", PortalGuard.Token(Hash('b')))], default);
        after.Select(r => r.Status).Should().Equal(AppendStatus.PortalRejected, AppendStatus.Stored);
    }

    [Fact]
    public async Task An_uninstall_erases_the_tokens_and_later_events_are_rejected()
    {
        await InstallAsync("m1", Hash('a'));

        await Store.AppendAsync([Event("m1", "bye", PortalGuard.Token(Hash('a')), "ONAPPUNINSTALL", null, new PortalUninstall("m1"))], default);

        var portal = await Store.FindPortalAsync("m1", default);
        portal!.State.Should().Be(PortalState.Uninstalled);
        portal.TokenHash.Should().BeNull();
        portal.UninstalledTokenHash.Should().Be(Hash('a'), "a copy of the uninstall is still recognised");
        portal.HasOAuthTokens.Should().BeFalse();
        portal.UninstalledAt.Should().Be(T0);
        (await Store.GetPortalTokensAsync("m1", default)).Should().BeNull();
        (await Store.AppendAsync([Event("m1", "late", PortalGuard.Token(Hash('a')))], default))[0].Status.Should().Be(AppendStatus.PortalRejected);
    }

    [Fact]
    public async Task A_repeated_install_event_does_not_undo_a_later_uninstall()
    {
        var install = Event("m1", "install", name: "ONAPPINSTALL", callId: null, change: Install("m1", Hash('a')));
        await Store.AppendAsync([install], default);
        await Store.AppendAsync([Event("m1", "bye", PortalGuard.Token(Hash('a')), "ONAPPUNINSTALL", null, new PortalUninstall("m1"))], default);

        var again = await Store.AppendAsync([install], default);

        again[0].Status.Should().Be(AppendStatus.Duplicate);
        (await Store.FindPortalAsync("m1", default))!.State.Should().Be(PortalState.Uninstalled);
    }

    [Fact]
    public async Task A_reinstall_renews_an_uninstalled_portal()
    {
        await InstallAsync("m1", Hash('a'));
        await Store.AppendAsync([Event("m1", "bye", PortalGuard.Token(Hash('a')), "ONAPPUNINSTALL", null, new PortalUninstall("m1"))], default);

        await InstallAsync("m1", Hash('c'));

        var portal = await Store.FindPortalAsync("m1", default);
        portal!.State.Should().Be(PortalState.Installed);
        portal.TokenHash.Should().Be(Hash('c'));
        portal.UninstalledAt.Should().BeNull();
        portal.UninstalledTokenHash.Should().BeNull();
        portal.HasOAuthTokens.Should().BeTrue();
    }

    [Fact]
    public async Task Listing_is_newest_first_and_filters_by_name_call_and_portal()
    {
        await Store.AppendAsync(
        [
            Event("m1", "1", name: "ONEXTERNALCALLSTART", callId: "c1"),
            Event("m1", "2", name: "ONVOXIMPLANTCALLEND", callId: "c1"),
            Event("m2", "3", name: "ONEXTERNALCALLSTART", callId: "c2"),
            Event("m2", "4", name: "ONAPPINSTALL", callId: null),
        ], default);

        (await Store.ListEventsAsync(new JournalQuery(), default)).Select(e => e.DedupKey).Should().Equal("4", "3", "2", "1");
        (await Store.ListEventsAsync(new JournalQuery(Limit: 2), default)).Select(e => e.DedupKey).Should().Equal("4", "3");
        (await Store.ListEventsAsync(new JournalQuery(EventName: "onExternalCallStart"), default)).Select(e => e.DedupKey).Should().Equal("3", "1");
        (await Store.ListEventsAsync(new JournalQuery(CallId: "c1"), default)).Select(e => e.DedupKey).Should().Equal("2", "1");
        (await Store.ListEventsAsync(new JournalQuery(MemberId: "m2"), default)).Select(e => e.DedupKey).Should().Equal("4", "3");
        (await Store.ListEventsAsync(new JournalQuery(MemberId: "m1", CallId: "c2"), default)).Should().BeEmpty();
        (await Store.GetEventAsync(999_999, default)).Should().BeNull();
    }

    [Fact]
    public async Task A_second_instance_sees_committed_events_and_initialising_again_changes_nothing()
    {
        await Store.AppendAsync([Event("m1", "seen")], default);
        await using var other = OpenSameStore();

        await other.InitializeAsync(default);

        (await other.CountEventsAsync(default)).Should().Be(1);
        (await other.ListEventsAsync(new JournalQuery(), default)).Single().DedupKey.Should().Be("seen");
    }

    [Fact]
    public async Task Credentials_follow_refreshes_moves_and_the_reauthorisation_mark()
    {
        await InstallAsync("m1", Hash('a'));
        (await Store.GetPortalCredentialsAsync("m1", default)).Should().Be(new StoredCredentials("https://acme.bitrix24.com/rest/", "access-secret", "refresh-secret", T0.AddHours(1), null));

        await Store.SavePortalTokensAsync("m1", "access-2", "refresh-2", T0.AddHours(2), default);
        await Store.SetPortalEndpointAsync("m1", "https://renamed.bitrix24.com/rest/", "renamed.bitrix24.com", default);
        await Store.MarkPortalNeedsReauthAsync("m1", "invalid_grant", default);

        (await Store.GetPortalCredentialsAsync("m1", default)).Should().Be(new StoredCredentials("https://renamed.bitrix24.com/rest/", "access-2", "refresh-2", T0.AddHours(2), "invalid_grant"));
        var portal = await Store.FindPortalAsync("m1", default);
        portal!.Domain.Should().Be("renamed.bitrix24.com");
        portal.NeedsReauthorisation.Should().Be("invalid_grant");
        (await Store.GetPortalCredentialsAsync("nobody", default)).Should().BeNull();

        await Store.AppendAsync([Event("m1", "bye", PortalGuard.Token(Hash('a')), "ONAPPUNINSTALL", null, new PortalUninstall("m1"))], default);
        (await Store.GetPortalCredentialsAsync("m1", default)).Should().BeNull();
    }

    [Fact]
    public async Task A_setup_step_is_kept_once_per_portal_and_step_with_its_last_outcome()
    {
        await Store.RecordSetupStepAsync(new SetupStepRecord("m1", "bind", SetupStatus.Failed, "Switchboard:PublicUrl is not set.", T0), default);
        await Store.RecordSetupStepAsync(new SetupStepRecord("m1", "verify", SetupStatus.Ok, "app.info: installed", T0), default);
        await Store.RecordSetupStepAsync(new SetupStepRecord("m1", "bind", SetupStatus.Ok, "7 event(s) bound", T0.AddMinutes(1)), default);
        await Store.RecordSetupStepAsync(new SetupStepRecord("m2", "users", SetupStatus.Pending, null, T0), default);

        (await Store.GetSetupStepsAsync("m1", default)).Should().BeEquivalentTo(
        [
            new SetupStepRecord("m1", "verify", SetupStatus.Ok, "app.info: installed", T0),
            new SetupStepRecord("m1", "bind", SetupStatus.Ok, "7 event(s) bound", T0.AddMinutes(1)),
        ]);
        (await Store.GetSetupStepsAsync("m2", default)).Should().Equal(new SetupStepRecord("m2", "users", SetupStatus.Pending, null, T0));
        (await Store.GetSetupStepsAsync("nobody", default)).Should().BeEmpty();
    }

    [Fact]
    public async Task A_portals_users_are_replaced_as_a_whole_list()
    {
        await Store.ReplacePortalUsersAsync("m1", [new(3, "Clara Operator", "102", true), new(1, "Anna Admin", "100", true), new(2, null, null, false)], default);
        await Store.ReplacePortalUsersAsync("m2", [new(1, "Other portal", "900", true)], default);

        (await Store.GetPortalUsersAsync("m1", default)).Should().Equal(
            new PortalUserRecord(1, "Anna Admin", "100", true), new PortalUserRecord(2, null, null, false), new PortalUserRecord(3, "Clara Operator", "102", true));

        await Store.ReplacePortalUsersAsync("m1", [new(2, "Boris Operator", "101", true)], default);

        (await Store.GetPortalUsersAsync("m1", default)).Should().Equal(new PortalUserRecord(2, "Boris Operator", "101", true));
        (await Store.GetPortalUsersAsync("m2", default)).Should().ContainSingle();
        await Store.ReplacePortalUsersAsync("m1", [], default);
        (await Store.GetPortalUsersAsync("m1", default)).Should().BeEmpty();
    }

    [Fact]
    public async Task A_refused_install_is_marked_and_its_token_no_longer_passes_the_append_guard()
    {
        await InstallAsync("m1", Hash('a'));

        await Store.SetInstallRefusedAsync("m1", "NO_AUTH_FOUND (HTTP 401)", default);

        var portal = await Store.FindPortalAsync("m1", default);
        portal!.InstallRefused.Should().Be("NO_AUTH_FOUND (HTTP 401)");
        portal.TokenHash.Should().BeNull();
        (await Store.ListPortalsAsync(default)).Single().InstallRefused.Should().NotBeNull();
        (await Store.AppendAsync([Event("m1", "after-refusal", PortalGuard.Token(Hash('a')))], default))[0].Status.Should().Be(AppendStatus.PortalRejected);

        // An install carries its own verdict: one kept pending (not proven yet) keeps the portal untrusted,
        // and one the OAuth server proved lifts the mark.
        await InstallAsync("m1", Hash('b'), untrusted: "Pending: not proven yet");
        (await Store.FindPortalAsync("m1", default))!.InstallRefused.Should().Be("Pending: not proven yet");
        await Store.SetInstallRefusedAsync("m1", null, default);
        (await Store.FindPortalAsync("m1", default))!.InstallRefused.Should().BeNull();
        (await Store.AppendAsync([Event("m1", "verified", PortalGuard.Token(Hash('b')))], default))[0].Status.Should().Be(AppendStatus.Stored);
        await Store.SetInstallRefusedAsync("m1", "NO_AUTH_FOUND (HTTP 401)", default);
        await InstallAsync("m1", Hash('c'));
        (await Store.FindPortalAsync("m1", default))!.InstallRefused.Should().BeNull("a proven install lifts the mark");
    }

    [Fact]
    public async Task The_store_reports_itself_writable()
    {
        var check = () => Store.CheckWritableAsync(default);

        await check.Should().NotThrowAsync();
    }
}
