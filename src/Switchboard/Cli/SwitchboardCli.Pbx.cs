using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Switchboard.Pbx;

namespace Switchboard.Cli;

public static partial class SwitchboardCli
{
    /// <summary>
    /// <c>pbx list</c> and <c>pbx show NAME</c>: the configured PBXes with what the instance holding each
    /// connection last reported (it stores its status with every renewal of the connection's lease), so
    /// the command answers from the store, on any machine that shares it, without asking a server.
    /// </summary>
    private static Command PbxCommand(Option<string?> data, Option<string?> postgres, Option<bool> json)
    {
        var list = new Command("list", "List the configured PBXes: connected or not and why, which instance holds each connection, live calls.");
        list.SetAction((parse, ct) => WithLedgerAsync(parse, data, postgres, async (calls, outbox, console) =>
        {
            var reports = await PbxReportsAsync(parse, data, postgres, calls, outbox, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(reports, PbxCliJson));
                return 0;
            }

            var table = new Table().AddColumns("Name", "Address", "State", "Held by", "Portal", "AMI", "Last event (UTC)", "Live calls", "Last error");
            foreach (var r in reports)
            {
                table.AddRow(
                    Markup.Escape(r.Name), Markup.Escape(r.Address), Markup.Escape(r.State), Markup.Escape(r.Holder ?? "-"),
                    Markup.Escape(r.MemberId ?? "-"), Markup.Escape(r.AmiVersion ?? "-"), Utc(r.LastEventAt),
                    r.LiveCalls.ToString(CultureInfo.InvariantCulture), Markup.Escape(r.LastError ?? "-"));
            }

            console.Write(table);
            console.WriteLine(reports.Count == 0
                ? "No PBX is configured: add one under Switchboard:Pbx:Asterisk:<name> (see the README)."
                : $"{reports.Count} PBX(es).");
            return 0;
        }));

        var name = new Argument<string>("name") { Description = "The PBX's name in the settings (Switchboard:Pbx:Asterisk:<name>)." };
        var show = new Command("show", "Show one PBX: its connection, versions, holder, last event, live calls and last error.") { name };
        show.SetAction((parse, ct) => WithLedgerAsync(parse, data, postgres, async (calls, outbox, console) =>
        {
            var wanted = parse.GetValue(name)!;
            var report = (await PbxReportsAsync(parse, data, postgres, calls, outbox, ct).ConfigureAwait(false))
                .FirstOrDefault(r => string.Equals(r.Name, wanted, StringComparison.OrdinalIgnoreCase));
            if (report is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"No PBX named '{wanted}': 'switchboard pbx list' shows the configured ones.");
                return NotFound;
            }

            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(report, PbxCliJson));
                return 0;
            }

            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("Name", Markup.Escape(report.Name));
            grid.AddRow("Address", Markup.Escape(report.Address));
            grid.AddRow("State", Markup.Escape(report.State));
            grid.AddRow("Held by", Markup.Escape(report.Holder ?? "-"));
            grid.AddRow("Lease until (UTC)", Utc(report.LeaseUntil));
            grid.AddRow("Portal", Markup.Escape(report.MemberId ?? "-"));
            grid.AddRow("AMI version", Markup.Escape(report.AmiVersion ?? "-"));
            grid.AddRow("Asterisk", Markup.Escape(report.AsteriskVersion ?? "-"));
            grid.AddRow("Connected since (UTC)", Utc(report.ConnectedSince));
            grid.AddRow("Last event (UTC)", Utc(report.LastEventAt));
            grid.AddRow("Live calls", report.LiveCalls.ToString(CultureInfo.InvariantCulture));
            grid.AddRow("Reconciled calls", report.ReconciledCalls.ToString(CultureInfo.InvariantCulture));
            grid.AddRow("Last error", Markup.Escape(report.LastError ?? "-"));
            grid.AddRow("Last error at (UTC)", Utc(report.LastErrorAt));
            console.Write(grid);
            return 0;
        }));

        return new Command("pbx", "The PBXes Switchboard drives (Asterisk over AMI).") { list, show };
    }

    private static readonly JsonSerializerOptions PbxCliJson = new(PbxJson.Options) { WriteIndented = true };

    private static async Task<List<PbxCliReport>> PbxReportsAsync(ParseResult parse, Option<string?> data, Option<string?> postgres, Calls.SqlCallStore calls, Outbox.SqlOutboxStore outbox, CancellationToken ct)
    {
        var options = new PbxOptions();
        LoadConfiguration(Overrides(parse, data, postgres)).GetSection(PbxOptions.SectionName).Bind(options);
        var leases = (await calls.ListPbxLeasesAsync(ct).ConfigureAwait(false)).ToDictionary(l => l.Name, StringComparer.OrdinalIgnoreCase);
        var now = await StoreNowAsync(outbox, ct).ConfigureAwait(false);
        var names = options.Asterisk.Keys.Concat(leases.Keys).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase);
        var reports = new List<PbxCliReport>();
        foreach (var pbxName in names)
        {
            options.Asterisk.TryGetValue(pbxName, out var configured);
            leases.TryGetValue(pbxName, out var lease);
            PbxStatusReport? status = null;
            if (lease?.Status is { } text)
            {
                try
                {
                    status = JsonSerializer.Deserialize<PbxStatusReport>(text, PbxJson.Options);
                }
                catch (JsonException)
                {
                    status = null; // written by another version: shown as unknown rather than failing the command
                }
            }

            var live = lease is not null && lease.LeaseUntil > now;
            var state = configured is null
                ? "not configured here"
                : lease is null ? "never connected"
                : !live ? "no instance holds it (the holder stopped or died)"
                : status?.State.ToString().ToLowerInvariant() ?? "unknown";
            reports.Add(new PbxCliReport(
                pbxName,
                configured is not null ? $"{configured.Host}:{configured.Port}" : status?.Address ?? "-",
                state,
                live ? lease!.Holder : null,
                lease?.LeaseUntil,
                status?.MemberId ?? configured?.MemberId,
                status?.AmiVersion,
                status?.AsteriskVersion,
                live ? status?.ConnectedSince : null,
                status?.LastEventAt,
                live ? status?.LiveCalls ?? 0 : 0,
                status?.ReconciledCalls ?? 0,
                status?.LastError,
                status?.LastErrorAt));
        }

        return reports;
    }

    private sealed record PbxCliReport(
        string Name,
        string Address,
        string State,
        string? Holder,
        DateTimeOffset? LeaseUntil,
        string? MemberId,
        string? AmiVersion,
        string? AsteriskVersion,
        DateTimeOffset? ConnectedSince,
        DateTimeOffset? LastEventAt,
        int LiveCalls,
        long ReconciledCalls,
        string? LastError,
        DateTimeOffset? LastErrorAt);
}
