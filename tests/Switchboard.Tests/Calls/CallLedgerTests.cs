using System.Globalization;
using System.Text.Json;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;
using Switchboard.Calls;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Calls;

public sealed class CallLedgerTests
{
    private const string CallId = "externalCall.716fa1d2c568e4b2b11c2f2f0e8d2c56.1773130779";
    private const long Owner = 7;
    private const long QueueMember = 9;
    private const string Recording = "/var/spool/asterisk/monitor/2026/03/11/in-1773239326.18441.mp3";

    private static readonly TestPortal Portal = TestPortal.Create();
    private static readonly TimeSpan Moscow = TimeSpan.FromHours(3);
    private static readonly DateTimeOffset T0 = new(2026, 3, 11, 17, 28, 46, Moscow);

    // ---- The permutation tests -------------------------------------------------------------------

    public static TheoryData<string> Scenarios => new()
    {
        "click-to-call hung up on the PBX",
        "click-to-call finished by hand",
        "incoming call answered by a queue member, with a recording",
        "incoming call whose IVR leg ends 304 after the answered leg ended 200",
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Every_order_of_a_calls_inputs_with_a_duplicate_gives_one_final_state_and_each_command_exactly_once(string scenario)
    {
        var (inputs, expectedKeys, check) = Build(scenario);
        inputs.Should().HaveCount(6, "five inputs plus one duplicate: 720 orders");

        var reference = Fold(inputs);
        check(reference.Record);
        reference.Commands.Select(c => c.Key).Should().BeEquivalentTo(expectedKeys);

        var orders = 0;
        foreach (var order in Permutations(inputs))
        {
            orders++;
            var (record, commands) = Fold(order);
            record.Should().Be(reference.Record, "the final record must not depend on the order");
            commands.Select(c => c.Key).Should().OnlyHaveUniqueItems();
            commands.OrderBy(c => c.Key, StringComparer.Ordinal)
                .Should().Equal(reference.Commands.OrderBy(c => c.Key, StringComparer.Ordinal));
        }

        orders.Should().Be(720);
    }

    private static (List<LedgerInput> Inputs, string[] ExpectedKeys, Action<CallRecord> Check) Build(string scenario)
    {
        switch (scenario)
        {
            case "click-to-call hung up on the PBX":
            {
                var click = ClickToCall(journalId: 1);
                return (
                    [click, new PbxAnswered(CallId, "101", Owner, T0.AddSeconds(8)), Start(2, Owner), new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(42), T0.AddSeconds(50)), End(3, "200", 42), click],
                    [$"originate:{CallId}", $"finish:{CallId}"],
                    r =>
                    {
                        r.ClickToCall.Should().BeTrue();
                        r.Direction.Should().Be(CallDirection.Outgoing);
                        r.ToFinishArguments().Should().Be(new FinishArguments(CallId, Owner, TimeSpan.FromSeconds(42), CallStatusCode.Success));
                        r.EventsSeen.Items.Should().Equal("ONEXTERNALCALLSTART", "ONVOXIMPLANTCALLEND", "ONVOXIMPLANTCALLSTART");
                        r.LastJournalId.Should().Be(3);
                    });
            }

            case "click-to-call finished by hand":
            {
                var click = ClickToCall(journalId: 1);
                return (
                    [click, new PbxAnswered(CallId, "101", Owner, T0.AddSeconds(8)), Start(2, Owner), new ManualFinish(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(30), T0.AddMinutes(5)), End(3, "200", 30), click],
                    [$"originate:{CallId}", $"finish:{CallId}"],
                    r =>
                    {
                        r.EndedAt.Should().Be(T0.AddMinutes(5));
                        r.ToFinishArguments().Should().Be(new FinishArguments(CallId, Owner, TimeSpan.FromSeconds(30), CallStatusCode.Success));
                    });
            }

            case "incoming call answered by a queue member, with a recording":
            {
                var answered = new PbxAnswered(CallId, "109", QueueMember, T0.AddSeconds(12));
                return (
                    [Registered(), answered, new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(65), T0.AddSeconds(77)), new RecordingReady(CallId, Recording, T0.AddSeconds(80)), End(4, "200", 65), answered],
                    [$"show:{CallId}:{QueueMember}", $"hide:{CallId}:{Owner}", $"finish:{CallId}", $"attachRecord:{CallId}:{Recording}"],
                    r =>
                    {
                        r.Direction.Should().Be(CallDirection.Incoming);
                        r.ExternalCallId.Should().Be("asterisk-1773239326.18441");
                        r.MemberId.Should().Be(Portal.MemberId);
                        r.ClickToCall.Should().BeFalse();
                        r.ToFinishArguments().Should().Be(new FinishArguments(CallId, QueueMember, TimeSpan.FromSeconds(65), CallStatusCode.Success));
                    });
            }

            case "incoming call whose IVR leg ends 304 after the answered leg ended 200":
            {
                var ivrLeg = new PbxHungUp(CallId, CallStatusCode.Missed, TimeSpan.FromSeconds(130), T0.AddSeconds(131));
                return (
                    [Registered(), new PbxAnswered(CallId, "101", Owner, T0.AddSeconds(30)), new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(95), T0.AddSeconds(125)), ivrLeg, End(4, "200", 95), ivrLeg],
                    [$"finish:{CallId}"],
                    r =>
                    {
                        r.Outcome.Should().Be(new CallOutcome(CallStatusCode.Success, TimeSpan.FromSeconds(95)));
                        r.ToFinishArguments()!.Status.Should().Be(CallStatusCode.Success);
                        r.AnsweredAt.Should().Be(T0.AddSeconds(30));
                        r.EndedAt.Should().Be(T0.AddSeconds(131), "the call ended when its last leg did");
                    });
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(scenario), scenario, null);
        }
    }

    // ---- Echoes and duplicates -------------------------------------------------------------------

    [Fact]
    public void An_end_event_for_a_call_we_finished_produces_no_command()
    {
        var (record, commands) = Fold([ClickToCall(1), new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(42), T0.AddSeconds(50))]);
        commands.Should().ContainSingle(c => c is FinishCall);

        var (next, newCommands) = CallLedger.Apply(record, End(2, "200", 42));

        newCommands.Should().BeEmpty();
        next.Bitrix24Outcome.Should().Be(new CallOutcome(CallStatusCode.Success, TimeSpan.FromSeconds(42)));
        next.Emitted.Should().Be(record.Emitted);
    }

    [Fact]
    public void Init_start_and_end_echoes_never_cause_a_command_even_for_a_call_we_never_heard_of()
    {
        var (registered, _) = Fold([Registered()]);
        var (known, commandsForKnown) = Fold([Init(2), Start(3, Owner), End(4, "304", 0)], registered);
        var (unknown, commandsForUnknown) = Fold([Init(2), Start(3, Owner), End(4, "304", 0)]);

        commandsForKnown.Should().BeEmpty();
        commandsForUnknown.Should().BeEmpty();
        known.EndKnown.Should().BeFalse("Bitrix24's END is the record of a finish, not our knowledge that the call ended");
        unknown.Emitted.Count.Should().Be(0);
        unknown.Bitrix24Outcome!.Status.Should().Be(CallStatusCode.Missed);
    }

    [Fact]
    public void A_duplicate_click_to_call_originates_once_and_registers_nothing()
    {
        var click = ClickToCall(1);
        var again = ClickToCall(2);

        var (_, commands) = Fold([click, again, click]);

        commands.Should().ContainSingle().Which.Should().Be(
            new OriginateCall(CallId, "+74951234567", "101", Owner, "74950000000"));
    }

    // ---- Rules -----------------------------------------------------------------------------------

    [Fact]
    public void A_recording_reported_before_the_end_is_attached_only_after_the_finish()
    {
        var (record, early) = CallLedger.Apply(null, new RecordingReady(CallId, Recording, T0));
        early.Should().BeEmpty("Bitrix24 refuses attachRecord for a call not yet finished");

        var (_, commands) = CallLedger.Apply(record, new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(5), T0.AddSeconds(6)));

        commands.Should().Equal(new FinishCall(CallId), new AttachRecord(CallId, Recording));
    }

    [Fact]
    public void The_latest_user_an_operator_names_is_the_one_reported_when_no_other_is_known()
    {
        var at = DateTimeOffset.Parse("2026-11-21T10:00:00+03:00", System.Globalization.CultureInfo.InvariantCulture);
        var (r1, _) = CallLedger.Apply(null, new CallRegistered("c1", "m1", null, CallDirection.Incoming, "+1", null, 5, null, at));
        var bare = r1 with { UserId = null };

        var (first, _) = CallLedger.Apply(bare, new ManualFinish("c1", CallStatusCode.Missed, TimeSpan.Zero, at, 500));
        var (second, _) = CallLedger.Apply(first, new ManualFinish("c1", CallStatusCode.Missed, TimeSpan.Zero, at, 7));
        var (third, _) = CallLedger.Apply(second, new ManualFinish("c1", CallStatusCode.Missed, TimeSpan.Zero, at));

        first.ToFinishArguments()!.UserId.Should().Be(500);
        second.ToFinishArguments()!.UserId.Should().Be(7, "a correction");
        third.ToFinishArguments()!.UserId.Should().Be(7, "a finish without --user keeps the named one");
        r1.ToFinishArguments().Should().BeNull();
    }

    [Fact]
    public void A_manual_finish_cannot_turn_an_answered_call_into_a_missed_one()
    {
        var (record, _) = Fold([Registered(), new PbxAnswered(CallId, "101", Owner, T0.AddSeconds(3)), new ManualFinish(CallId, CallStatusCode.Missed, TimeSpan.Zero, T0.AddMinutes(1))]);

        record.ToFinishArguments()!.Status.Should().Be(CallStatusCode.Success);
    }

    [Fact]
    public void An_unanswered_call_is_finished_with_the_most_telling_failure()
    {
        var (record, _) = Fold([
            Registered(),
            new PbxHungUp(CallId, CallStatusCode.Missed, TimeSpan.Zero, T0.AddSeconds(20)),
            new PbxHungUp(CallId, CallStatusCode.Busy, TimeSpan.Zero, T0.AddSeconds(21)),
            new PbxHungUp(CallId, CallStatusCode.Cancelled, TimeSpan.Zero, T0.AddSeconds(22))]);

        record.ToFinishArguments().Should().Be(new FinishArguments(CallId, Owner, TimeSpan.Zero, CallStatusCode.Busy));
    }

    [Theory]
    [InlineData("200", "304", "200")]
    [InlineData("603-S", "200", "200")]
    [InlineData("304", "603-S", "603-S")]
    [InlineData("486", "603-S", "486")]
    [InlineData("OTHER", "304", "304")]
    [InlineData("999", "OTHER", "OTHER")]
    public void Status_precedence_picks_the_same_winner_in_either_order(string a, string b, string winner)
    {
        var x = new CallOutcome(new CallStatusCode(a), TimeSpan.FromSeconds(1));
        var y = new CallOutcome(new CallStatusCode(b), TimeSpan.FromSeconds(2));

        StatusPrecedence.Better(x, y)!.Status.Code.Should().Be(winner);
        StatusPrecedence.Better(y, x)!.Status.Code.Should().Be(winner);
    }

    [Fact]
    public void A_negative_duration_is_recorded_as_zero()
    {
        var (record, _) = CallLedger.Apply(null, new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(-3), T0));

        record.Outcome!.Duration.Should().Be(TimeSpan.Zero);
        record.ToFinishArguments()!.Duration.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Times_keep_their_offsets_and_one_instant_written_two_ways_converges()
    {
        var yekaterinburg = TimeSpan.FromHours(5);
        var answered = new PbxAnswered(CallId, "101", Owner, T0);
        var endMoscow = new PbxHungUp(CallId, CallStatusCode.Success, TimeSpan.FromSeconds(60), T0.AddSeconds(60));
        var endSameInstant = endMoscow with { At = T0.AddSeconds(60).ToOffset(yekaterinburg) };

        var (one, _) = Fold([answered, endMoscow, endSameInstant]);
        var (other, _) = Fold([endSameInstant, answered, endMoscow]);

        one.AnsweredAt!.Value.Offset.Should().Be(Moscow);
        one.EndedAt!.Value.Offset.Should().Be(yekaterinburg);
        other.Should().Be(one);
    }

    [Fact]
    public void An_input_about_another_call_or_without_a_call_id_is_refused()
    {
        var (record, _) = CallLedger.Apply(null, Registered());
        var callback = Read("ONEXTERNALCALLBACKSTART", new() { ["PHONE_NUMBER"] = "+74951234567", ["LINE_NUMBER"] = "74950000000" });

        CallLedger.Folds(callback).Should().BeFalse();
        CallLedger.Folds(ClickToCall(1).Event).Should().BeTrue();
        var another = () => CallLedger.Apply(record, new PbxAnswered("externalCall.other.1", null, Owner, T0));
        var noId = () => CallLedger.Apply(null, new Bitrix24Input(9, T0, callback));
        another.Should().Throw<ArgumentException>();
        noId.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void A_call_record_survives_a_json_round_trip_with_its_offsets_and_emitted_keys()
    {
        var answered = new PbxAnswered(CallId, "109", QueueMember, T0.AddSeconds(12).ToOffset(TimeSpan.FromHours(5)));
        var (record, _) = Fold([Registered(), answered, new PbxHungUp(CallId, CallStatusCode.Cancelled, TimeSpan.FromSeconds(65), T0.AddSeconds(77)), new RecordingReady(CallId, Recording, T0), End(4, "603-S", 65)]);

        var json = JsonSerializer.Serialize(record);
        var back = JsonSerializer.Deserialize<CallRecord>(json);

        back.Should().Be(record);
        back!.AnsweredAt!.Value.Offset.Should().Be(TimeSpan.FromHours(5));
        back.Emitted.Count.Should().Be(4);
    }

    [Fact]
    public void An_input_that_emits_nothing_costs_one_record_copy_and_no_command_list()
    {
        // Most inputs under load are echoes and repeats. Each one paid for a LINQ pipeline, a list and
        // a second copy of the record that it then threw away: 1,704 bytes here. What is left (~1 KB) is
        // one copy of the record and the due commands rebuilt with their keys, to be looked up in Emitted.
        var (record, _) = Fold([ClickToCall(1), new PbxAnswered(CallId, "109", QueueMember, T0.AddSeconds(12)), Start(2, Owner)]);
        var echo = Start(2, Owner);
        var (same, none) = CallLedger.Apply(record, echo);
        same.Should().Be(record);
        none.Should().BeEmpty();

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            CallLedger.Apply(record, echo);
        }

        var perInput = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        perInput.Should().BeLessThan(1_300, "one copy of the record and the due commands, no list and no second copy");
    }

    [Fact]
    public void A_new_call_starts_with_the_shared_empty_sets()
    {
        var (record, _) = CallLedger.Apply(null, Init(1));

        record.AnsweredBy.Should().BeSameAs(ValueSet.Empty<long>());
        record.Recordings.Should().BeSameAs(ValueSet.Empty<string>());
        record.Emitted.Should().BeSameAs(ValueSet.Empty<string>());
        record.EventsSeen.Items.Should().Equal("ONVOXIMPLANTCALLINIT");
        ValueSet.Empty<string>().Count.Should().Be(0);
    }

    // ---- Helpers ---------------------------------------------------------------------------------

    private static (CallRecord Record, List<OutboxCommand> Commands) Fold(IEnumerable<LedgerInput> inputs, CallRecord? start = null)
    {
        var record = start;
        var commands = new List<OutboxCommand>();
        foreach (var input in inputs)
        {
            (record, var fresh) = CallLedger.Apply(record, input);
            commands.AddRange(fresh);
        }

        return (record!, commands);
    }

    private static IEnumerable<List<T>> Permutations<T>(List<T> items)
    {
        if (items.Count <= 1)
        {
            yield return [.. items];
            yield break;
        }

        for (var i = 0; i < items.Count; i++)
        {
            var rest = items.Where((_, j) => j != i).ToList();
            foreach (var tail in Permutations(rest))
            {
                tail.Insert(0, items[i]);
                yield return tail;
            }
        }
    }

    private static CallRegistered Registered() => new(
        CallId, Portal.MemberId, "asterisk-1773239326.18441", CallDirection.Incoming, "+74951234567", "74950000000",
        Owner, new CrmEntity(CrmEntityType.Contact, 797), T0);

    private static Bitrix24Input ClickToCall(long journalId) => Input(journalId, "ONEXTERNALCALLSTART", new()
    {
        ["PHONE_NUMBER"] = "+74951234567",
        ["PHONE_NUMBER_INTERNATIONAL"] = "+74951234567",
        ["EXTENSION"] = "101",
        ["USER_ID"] = Owner.ToString(CultureInfo.InvariantCulture),
        ["CALL_LIST_ID"] = "0",
        ["LINE_NUMBER"] = "74950000000",
        ["IS_MOBILE"] = "0",
        ["CALL_ID"] = CallId,
        ["CRM_ENTITY_TYPE"] = "CONTACT",
        ["CRM_ENTITY_ID"] = "797",
    });

    private static Bitrix24Input Init(long journalId) => Input(journalId, "ONVOXIMPLANTCALLINIT", new()
    {
        ["CALL_ID"] = CallId,
        ["CALL_TYPE"] = "2",
        ["CALLER_ID"] = "+74951234567",
        ["REST_APP_ID"] = "41",
    });

    private static Bitrix24Input Start(long journalId, long userId) => Input(journalId, "ONVOXIMPLANTCALLSTART", new()
    {
        ["CALL_ID"] = CallId,
        ["USER_ID"] = userId.ToString(CultureInfo.InvariantCulture),
    });

    private static Bitrix24Input End(long journalId, string code, int seconds) => Input(journalId, "ONVOXIMPLANTCALLEND", new()
    {
        ["CALL_ID"] = CallId,
        ["CALL_TYPE"] = "1",
        ["PHONE_NUMBER"] = "+74951234567",
        ["PORTAL_NUMBER"] = "REST_APP:",
        ["PORTAL_USER_ID"] = Owner.ToString(CultureInfo.InvariantCulture),
        ["CALL_DURATION"] = seconds.ToString(CultureInfo.InvariantCulture),
        ["CALL_START_DATE"] = "2026-03-11T17:28:46+03:00",
        ["COST"] = "0.0000",
        ["COST_CURRENCY"] = "",
        ["CALL_FAILED_CODE"] = code,
        ["CALL_FAILED_REASON"] = code == "200" ? "Success call" : "Call canceled",
        ["CRM_ACTIVITY_ID"] = "5215",
    });

    // Built the way Bitrix24 sends it (http_build_query body), then read by the real reader.
    private static Bitrix24Input Input(long journalId, string name, Dictionary<string, object?> data) =>
        new(journalId, T0.AddSeconds(journalId), Read(name, data, 1_773_239_326 + journalId));

    private static Bitrix24Event Read(string name, Dictionary<string, object?> data, long ts = 1_773_239_326)
    {
        var parsed = PhpFormParser.Parse(Bitrix24Events.Body(name, data, Bitrix24Events.Auth(Portal), ts));
        parsed.Success.Should().BeTrue();
        var read = Bitrix24EventReader.Read(parsed.Root!);
        read.Event.Should().NotBeNull(read.Error);
        return read.Event!;
    }
}
