using System.Text;
using Switchboard.Bitrix24.Events;
using Switchboard.Calls;
using Switchboard.Journal;
using Switchboard.Receiving;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

/// <summary>
/// The in-memory hand-over of committed events to the ledger: it gives only the rows right after the
/// ledger's cursor, without a gap, drops what it cannot keep, and holds each event as the journal
/// keeps it (no tokens, received time to the millisecond).
/// </summary>
public sealed class JournalFeedTests
{
    private static readonly TestPortal Portal = TestPortal.Create();
    private static readonly DateTimeOffset T0 = new(2026, 3, 11, 17, 28, 46, TimeSpan.FromHours(3));
    private static readonly Bitrix24Event Start = ParsedEvents.Read(Bitrix24Events.ExternalCallStart(Portal, Bitrix24Events.NewCallId()));

    private static JournalEvent Row(long id) => JournalFeed.AsStored(id, T0.AddSeconds(id), Portal.MemberId, Start);

    private static JournalFeed FeedOf(params long[] ids)
    {
        var feed = new JournalFeed();
        foreach (var id in ids)
        {
            feed.Publish(Row(id));
        }

        return feed;
    }

    [Fact]
    public void Takes_the_rows_after_the_cursor_in_id_order()
    {
        var feed = FeedOf(11, 12, 13);
        var into = new List<JournalEvent>();

        feed.TryTake(10, 100, into).Should().BeTrue();

        into.Select(r => r.Id).Should().Equal(11, 12, 13);
        feed.Count.Should().Be(0);
        feed.TryTake(13, 100, []).Should().BeFalse("nothing is left");
    }

    [Fact]
    public void Rows_at_or_before_the_cursor_are_discarded()
    {
        var feed = FeedOf(8, 9, 10, 11, 12);
        var into = new List<JournalEvent>();

        feed.TryTake(10, 100, into).Should().BeTrue();

        into.Select(r => r.Id).Should().Equal(11, 12);
        feed.Count.Should().Be(0);
    }

    [Fact]
    public void Rows_all_at_or_before_the_cursor_are_discarded_and_nothing_is_taken()
    {
        var feed = FeedOf(3, 4, 5);
        var into = new List<JournalEvent>();

        feed.TryTake(5, 100, into).Should().BeFalse();

        into.Should().BeEmpty();
        feed.Count.Should().Be(0);
    }

    [Fact]
    public void A_missing_next_row_takes_nothing_and_leaves_the_rest()
    {
        var feed = FeedOf(12, 13, 14);
        var into = new List<JournalEvent>();

        feed.TryTake(10, 100, into).Should().BeFalse("row 11 is not here: the ledger must read the journal");

        into.Should().BeEmpty();
        feed.Count.Should().Be(3);
        feed.TryTake(11, 100, into).Should().BeTrue("once the ledger has read row 11 from the journal, the rest follow");
        into.Select(r => r.Id).Should().Equal(12, 13, 14);
    }

    [Fact]
    public void A_gap_further_on_stops_the_take_before_it()
    {
        var feed = FeedOf(11, 12, 14, 15);
        var into = new List<JournalEvent>();

        feed.TryTake(10, 100, into).Should().BeTrue();

        into.Select(r => r.Id).Should().Equal(11, 12);
        feed.Count.Should().Be(2);
        feed.TryTake(12, 100, []).Should().BeFalse("row 13 is missing");
        feed.Count.Should().Be(2);
    }

    [Fact]
    public void At_most_max_rows_are_taken_and_the_rest_wait()
    {
        var feed = FeedOf(1, 2, 3, 4, 5);
        var into = new List<JournalEvent>();

        feed.TryTake(0, 2, into).Should().BeTrue();
        into.Select(r => r.Id).Should().Equal(1, 2);
        feed.Count.Should().Be(3);

        var next = new List<JournalEvent>();
        feed.TryTake(2, 2, next).Should().BeTrue();
        next.Select(r => r.Id).Should().Equal(3, 4);

        var last = new List<JournalEvent>();
        feed.TryTake(4, 2, last).Should().BeTrue();
        last.Select(r => r.Id).Should().Equal(5);
    }

    [Fact]
    public void Past_its_capacity_the_feed_lets_go_of_everything_until_the_ledger_has_caught_up()
    {
        var feed = new JournalFeed();
        for (long id = 1; id <= JournalFeed.Capacity + 3; id++)
        {
            feed.Publish(Row(id));
        }

        // The ledger fell behind: it reads the journal, and the feed holds nothing it would not take.
        feed.Count.Should().Be(0);
        feed.Suspended.Should().BeTrue();
        feed.Publish(Row(JournalFeed.Capacity + 4));
        feed.Count.Should().Be(0, "nothing is kept while the ledger is behind");
        feed.TryTake(0, 10, []).Should().BeFalse();
        feed.TryTake(JournalFeed.Capacity + 3, 10, []).Should().BeFalse("row Capacity + 4 was not kept either");
        feed.Suspended.Should().BeTrue();

        // The ledger reads the journal up to the last row published, then the feed keeps rows again.
        feed.TryTake(JournalFeed.Capacity + 4, 10, []).Should().BeFalse();
        feed.Suspended.Should().BeFalse();
        feed.Publish(Row(JournalFeed.Capacity + 5));
        var into = new List<JournalEvent>();
        feed.TryTake(JournalFeed.Capacity + 4, 10, into).Should().BeTrue();
        into.Select(r => r.Id).Should().Equal(JournalFeed.Capacity + 5);
    }

    [Fact]
    public void A_ledger_that_keeps_up_never_meets_the_capacity()
    {
        var feed = new JournalFeed();
        long cursor = 0;
        for (long id = 1; id <= JournalFeed.Capacity * 3; id++)
        {
            feed.Publish(Row(id));
            if (id % 1000 == 0)
            {
                var taken = new List<JournalEvent>();
                feed.TryTake(cursor, 1000, taken).Should().BeTrue();
                cursor = taken[^1].Id;
            }
        }

        feed.Suspended.Should().BeFalse();
        feed.Count.Should().Be((JournalFeed.Capacity * 3) % 1000);
    }

    [Fact]
    public void AsStored_removes_the_three_tokens_and_keeps_the_rest_of_the_event()
    {
        var callId = Bitrix24Events.NewCallId();
        var ev = ParsedEvents.Read(Bitrix24Events.ExternalCallStart(Portal, callId));
        ev.Auth.AccessToken.Should().Be(Portal.AccessToken, "the body as received carries the tokens");
        ev.Auth.RefreshToken.Should().Be(Portal.RefreshToken);
        ev.Auth.ApplicationToken.Should().Be(Portal.ApplicationToken);

        var stored = JournalFeed.AsStored(42, T0, Portal.MemberId, ev);

        stored.Id.Should().Be(42);
        stored.MemberId.Should().Be(Portal.MemberId);
        var auth = stored.Event.Auth;
        auth.AccessToken.Should().BeNull();
        auth.RefreshToken.Should().BeNull();
        auth.ApplicationToken.Should().BeNull();
        auth.MemberId.Should().Be(Portal.MemberId);
        auth.Domain.Should().Be(Portal.Domain);
        auth.ClientEndpoint.Should().Be(Portal.ClientEndpoint);
        auth.ServerEndpoint.Should().Be("https://oauth.bitrix.info/rest/");
        auth.Scope.Should().Equal("telephony", "crm", "user");
        auth.ExpiresIn.Should().Be(TimeSpan.FromHours(1));
        stored.Event.Should().BeOfType<ExternalCallStartEvent>();
        stored.Event.Name.Should().Be(ev.Name);
        stored.Event.CallId.Should().Be(callId);
        stored.Event.SentAt.Should().Be(ev.SentAt);
        stored.Event.HandlerId.Should().Be(ev.HandlerId);
        ev.Auth.AccessToken.Should().Be(Portal.AccessToken, "the event handed in is not changed");
    }

    [Fact]
    public void AsStored_gives_the_event_the_journal_reads_back_from_the_stored_body()
    {
        var body = Bitrix24Events.ExternalCallStart(Portal, Bitrix24Events.NewCallId());
        var fromJournal = CallJson.ReadEvent("application/x-www-form-urlencoded", Encoding.UTF8.GetString(JournalBody.RedactForm(Encoding.UTF8.GetBytes(body)).Span));

        var fromFeed = JournalFeed.AsStored(1, T0, Portal.MemberId, ParsedEvents.Read(body)).Event;

        fromJournal.Should().NotBeNull();
        fromFeed.Auth.Should().BeEquivalentTo(fromJournal!.Auth);
        fromFeed.Should().BeOfType<ExternalCallStartEvent>().Which.Should().BeEquivalentTo(
            (ExternalCallStartEvent)fromJournal, o => o.Excluding(e => e.Data), "every typed field is the same; the raw tree is not kept");
        fromFeed.Data.Children.Should().BeEmpty("the feed does not hold parse trees for the ledger, which reads typed fields only");
        fromJournal.Data.Children.Should().NotBeEmpty();
    }

    [Fact]
    public void AsStored_keeps_the_data_tree_of_an_untyped_event_where_its_call_id_is()
    {
        var body = "event=ONSOMETHINGNEW&data%5BCALL_ID%5D=externalCall.x.1&ts=1773239624&auth%5Bmember_id%5D=m";
        var stored = JournalFeed.AsStored(1, T0, Portal.MemberId, ParsedEvents.Read(body)).Event;

        stored.Should().BeOfType<UntypedEvent>();
        stored.CallId.Should().Be("externalCall.x.1");
    }

    [Fact]
    public void AsStored_cuts_the_received_time_to_the_millisecond()
    {
        var received = new DateTimeOffset(2026, 3, 11, 17, 28, 46, 123, TimeSpan.FromHours(3)).AddTicks(4567);

        var stored = JournalFeed.AsStored(1, received, Portal.MemberId, Start);

        stored.ReceivedAt.Should().Be(new DateTimeOffset(2026, 3, 11, 14, 28, 46, 123, TimeSpan.Zero));
        stored.ReceivedAt.Ticks.Should().Be(received.UtcTicks - 4567);
        JournalFeed.AsStored(1, T0, Portal.MemberId, Start).ReceivedAt.Should().Be(T0, "a whole millisecond stays as it is");
    }

    [Fact]
    public void AsStored_strips_the_application_token_of_an_event_that_has_no_other_token()
    {
        var ev = ParsedEvents.Read(Bitrix24Events.Uninstall(Portal));
        var stored = JournalFeed.AsStored(7, T0, Portal.MemberId, ev);

        ev.Auth.ApplicationToken.Should().NotBeNull("ONAPPUNINSTALL still carries the application token");
        stored.Event.Auth.ApplicationToken.Should().BeNull();
        stored.Event.Auth.MemberId.Should().Be(Portal.MemberId);
        stored.Event.Name.Should().Be("ONAPPUNINSTALL");
    }

    [Fact]
    public void Past_its_body_budget_the_feed_lets_go_of_everything_until_the_ledger_has_caught_up()
    {
        var feed = new JournalFeed();
        var big = (int)(JournalFeed.MaxBodyBytes / 4);
        for (var id = 1; id <= 4; id++)
        {
            feed.Publish(Row(id), big);
        }

        feed.Count.Should().Be(4, "four bodies of a quarter of the budget fit");
        var taken = new List<JournalEvent>();
        feed.TryTake(0, 2, taken).Should().BeTrue();
        feed.Publish(Row(5), big);
        feed.Count.Should().Be(3, "what was taken no longer counts against the budget");

        feed.Publish(Row(6), big);
        feed.Publish(Row(7), big);
        feed.Count.Should().Be(0, "past the budget the ledger is behind: it reads rows 3 to 7 from the journal");
        feed.Suspended.Should().BeTrue();
        feed.TryTake(7, 10, []).Should().BeFalse();
        feed.Publish(Row(8), big);
        taken.Clear();
        feed.TryTake(7, 10, taken).Should().BeTrue();
        taken.Select(r => r.Id).Should().Equal(8L);
    }

    [Fact]
    public void A_stored_body_accepted_under_raised_limits_reads_back_as_its_event()
    {
        // Switchboard:Receiving:MaxValueLength raised above the 32 KiB default: the journal keeps such a
        // body, and reading it back must not skip it (nor differ from the event the feed hands over).
        var callId = Bitrix24Events.NewCallId();
        var body = Bitrix24Events.Body("ONEXTERNALCALLSTART", new()
        {
            ["CALL_ID"] = callId,
            ["USER_ID"] = "1",
            ["PHONE_NUMBER"] = "+14155550100",
            ["NOTE"] = new string('x', 40 * 1024),
        }, Bitrix24Events.Auth(TestPortal.Create(), withTokens: false));

        var ev = Switchboard.Calls.CallJson.ReadEvent("application/x-www-form-urlencoded", body);

        ev.Should().NotBeNull();
        ev!.CallId.Should().Be(callId);
    }
}
