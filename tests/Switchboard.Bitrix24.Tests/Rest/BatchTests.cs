using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Tests.Rest;

public sealed class BatchTests
{
    [Fact]
    public async Task A_batch_of_120_commands_is_sent_as_three_requests_and_each_result_and_error_is_mapped()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/batch", r =>
        {
            var cmd = r.Json!["cmd"]!.AsObject();
            var results = new JsonObject();
            var errors = new JsonObject();
            var totals = new JsonObject();
            var times = new JsonObject();
            foreach (var (id, value) in cmd)
            {
                var n = int.Parse(id[2..], System.Globalization.CultureInfo.InvariantCulture);
                if (n % 25 == 7)
                {
                    errors[id] = new JsonObject { ["error"] = "ERROR_CORE", ["error_description"] = $"Call is not found ({value})" };
                }
                else
                {
                    results[id] = new JsonObject { ["n"] = n };
                    times[id] = new JsonObject { ["start"] = 1741338030.5, ["operating"] = 0.01 };
                    if (n % 10 == 0)
                    {
                        totals[id] = n * 2;
                    }
                }
            }

            // Bitrix24 sends an empty part as [] (PHP's empty array), not {}.
            JsonNode Part(JsonObject o) => o.Count == 0 ? new JsonArray() : o;
            return FakeReply.Ok(new JsonObject
            {
                ["result"] = Part(results), ["result_error"] = Part(errors), ["result_total"] = Part(totals),
                ["result_next"] = new JsonArray(), ["result_time"] = Part(times),
            });
        });
        using var h = new RestHarness(fake);
        var commands = Enumerable.Range(0, 120)
            .Select(i => new BatchCommand($"c_{i}", "telephony.externalCall.hide",
                new JsonObject { ["CALL_ID"] = $"externalCall.{i}", ["USER_ID"] = new JsonArray(1, 2) }))
            .ToList();

        var r = await h.Client.BatchAsync(RestHarness.MemberId, commands);

        r.IsSuccess.Should().BeTrue();
        var batch = r.Value!;
        batch.Requests.Should().Be(3);
        var sent = fake.To("/rest/batch").ToList();
        sent.Select(s => s.Json!["cmd"]!.AsObject().Count).Should().Equal(50, 50, 20);
        sent.Should().OnlyContain(s => s.Json!["halt"]!.GetValue<int>() == 0 && s.Auth == "access-1");
        sent[0].Json!["cmd"]!["c_3"]!.GetValue<string>().Should().Be("telephony.externalCall.hide?CALL_ID=externalCall.3&USER_ID%5B0%5D=1&USER_ID%5B1%5D=2");
        batch.Commands.Should().HaveCount(120);
        batch.NotRun.Should().BeEmpty();
        batch.Commands["c_3"].IsSuccess.Should().BeTrue();
        batch.Commands["c_3"].Result!.Value.GetProperty("n").GetInt32().Should().Be(3);
        batch.Commands["c_3"].Time!.Operating.Should().Be(0.01);
        batch.Commands["c_10"].Total.Should().Be(20);
        batch.Commands["c_3"].Total.Should().BeNull();
        batch.Commands["c_107"].Error!.Kind.Should().Be(RestErrorKind.ErrorCore);
        batch.Commands["c_107"].Error!.Description.Should().StartWith("Call is not found");
        batch.Commands.Values.Count(c => c.Error is not null).Should().Be(5); // 7, 32, 57, 82, 107
    }

    [Fact]
    public async Task With_halt_an_error_stops_the_later_requests_and_lists_what_did_not_run()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/batch", r =>
        {
            r.Json!["halt"]!.GetValue<int>().Should().Be(1);
            // The portal stops at c_2: c_0 and c_1 ran, c_2 failed, the rest of this request never ran.
            return FakeReply.Ok(new JsonObject
            {
                ["result"] = new JsonObject { ["c_0"] = true, ["c_1"] = true },
                ["result_error"] = new JsonObject { ["c_2"] = new JsonObject { ["error"] = "ERROR_CORE", ["error_description"] = "boom" } },
                ["result_total"] = new JsonArray(), ["result_next"] = new JsonArray(), ["result_time"] = new JsonArray(),
            });
        });
        using var h = new RestHarness(fake);
        var commands = Enumerable.Range(0, 60).Select(i => new BatchCommand($"c_{i}", "app.info")).ToList();

        var r = await h.Client.BatchAsync(RestHarness.MemberId, commands, halt: true);

        r.Value!.Requests.Should().Be(1);
        r.Value.Commands.Keys.Should().BeEquivalentTo("c_0", "c_1", "c_2");
        r.Value.NotRun.Should().HaveCount(57).And.Contain("c_3").And.Contain("c_59");
        fake.Requests.Should().HaveCount(1);
    }

    [Fact]
    public async Task Commands_given_as_a_list_come_back_as_a_list_and_are_mapped_by_position()
    {
        await using var fake = await FakeBitrix24.StartAsync();
        fake.On("/rest/batch", _ => FakeReply.Ok(new JsonObject
        {
            ["result"] = new JsonArray(new JsonObject { ["ID"] = 1 }, new JsonObject { ["ID"] = 2 }),
            ["result_error"] = new JsonArray(), ["result_total"] = new JsonArray(), ["result_next"] = new JsonArray(), ["result_time"] = new JsonArray(),
        }));
        using var h = new RestHarness(fake);

        var r = await h.Client.BatchAsync(RestHarness.MemberId, [new BatchCommand("0", "user.current"), new BatchCommand("1", "app.info")]);

        r.Value!.Commands["1"].Result!.Value.GetProperty("ID").GetInt32().Should().Be(2);
        r.Value.Commands["0"].Error.Should().BeNull();
    }
}
