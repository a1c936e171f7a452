using Microsoft.Extensions.DependencyInjection;
using Switchboard.Calls;
using Switchboard.Emulator;
using Switchboard.Journal;
using Switchboard.Outbox;
using Switchboard.Tests.Cli;
using Switchboard.Tests.Infrastructure;

namespace Switchboard.Tests.Portals;

/// <summary>
/// The whole way, nothing called by hand: the emulator POSTs ONAPPINSTALL, the ledger turns the
/// journalled install into a portal.setup command, the outbox worker runs it against the emulator, and
/// the portal ends up with its events bound, the line added and the extensions loaded.
/// </summary>
public sealed class InstallFlowEndToEndTests
{
    [Fact]
    public async Task An_install_POST_ends_with_events_bound_a_line_added_extensions_loaded_and_portals_show_reporting_it()
    {
        await using var lab = await PortalLab.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Switchboard:Setup:Lines:0:Number"] = "74951112233",
            ["Switchboard:Setup:Lines:0:Name"] = "Office",
        });
        var store = lab.Server.Store;
        await PortalLab.WaitForSetupAsync(lab.Server, 1);
        (await store.GetSetupStepsAsync(lab.MemberId, default)).Should().HaveCount(4).And.OnlyContain(s => s.Status == SetupStatus.Ok);

        lab.Emulator.State.Handlers.Should().Contain(h => h.Event == "ONEXTERNALCALLSTART" && h.Handler == lab.HandlerUrl.ToString());
        lab.Emulator.State.Lines.Should().ContainSingle(l => l.Number == "74951112233");
        (await store.GetPortalUsersAsync(lab.MemberId, default)).Should().Contain(u => u.UserId == 2 && u.Extension == "101");

        var shown = (await CliRun.RunAsync("portals", "show", lab.MemberId, "--json", "--data", lab.Server.DataDirectory!)).Json();
        shown.GetProperty("setup").EnumerateArray().Should().OnlyContain(s => s.GetProperty("status").GetString() == "ok");
        var outbox = lab.Server.Services.GetRequiredService<IOutboxStore>();
        (await outbox.ListAsync(null, 10, default)).Should().ContainSingle(e => e.Kind == OutboxKinds.PortalSetup && e.Status == OutboxStatus.Done);

        // The binding is real: a click in the portal now reaches the server by itself and lands in the ledger.
        var click = await lab.Emulator.SendClickToCallAsync(new ClickToCall { UserId = 2 });
        click.Deliveries.Should().ContainSingle().Which.Status.Should().Be(200);
        var calls = lab.Server.Services.GetRequiredService<SqlCallStore>();
        await PortalLab.WaitUntilAsync(async () => await calls.GetAsync(click.CallId!, default) is not null, "the click is in the ledger");
    }

    [Fact]
    public async Task An_app_update_binds_the_handlers_again_after_the_portal_dropped_them()
    {
        await using var lab = await PortalLab.StartAsync();
        await PortalLab.WaitForSetupAsync(lab.Server, 1);

        // REFERENCE §1.4: an update deletes the app's handlers; the ONAPPUPDATE itself still arrives.
        var update = await lab.Emulator.SendAppUpdateAsync("2");
        update.Deliveries.Should().NotBeEmpty().And.OnlyContain(d => d.Status == 200);
        await PortalLab.WaitForSetupAsync(lab.Server, 2);
        lab.Emulator.State.Handlers.Should().Contain(h => h.Event == "ONEXTERNALCALLSTART" && h.Handler == lab.HandlerUrl.ToString());
    }
}
