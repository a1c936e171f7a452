using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Switchboard.Bitrix24.Wire;
using Switchboard.Hosting;
using Switchboard.Journal;

namespace Switchboard.Cli;

/// <summary>
/// The <c>switchboard</c> command. <c>serve</c> runs the server; the other commands read the same
/// store the server writes, chosen the same way (appsettings.json, <c>Switchboard__…</c> environment
/// variables, <c>--data</c> / <c>--postgres</c>).
/// </summary>
public static partial class SwitchboardCli
{
    /// <summary>Exit code: the thing asked for does not exist.</summary>
    public const int NotFound = 1;

    /// <summary>Exit code: an argument is out of range.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code: the store could not be opened or read.</summary>
    public const int StoreUnavailable = 3;

    // Wide enough for any row the commands print, so redirected tables never wrap.
    private const int UnwrappedWidth = 4096;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Runs the command line; output goes to the given writers (the console by default).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        var data = new Option<string?>("--data") { Description = "Data directory for the SQLite journal (Switchboard:Store:DataDirectory, default ./data).", Recursive = true };
        var postgres = new Option<string?>("--postgres") { Description = "PostgreSQL connection string; uses PostgreSQL instead of SQLite (Switchboard:Store:PostgresConnectionString).", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table.", Recursive = true };

        var root = new RootCommand("Switchboard: joins Bitrix24 telephony to your PBX.");
        root.Options.Add(data);
        root.Options.Add(postgres);
        root.Options.Add(json);

        root.Subcommands.Add(ServeCommand(data, postgres));
        root.Subcommands.Add(EventsCommand(data, postgres, json));
        root.Subcommands.Add(PortalsCommand(data, postgres, json));
        root.Subcommands.Add(CallsCommand(data, postgres, json));
        root.Subcommands.Add(OutboxCommand(data, postgres, json));
        root.Subcommands.Add(PbxCommand(data, postgres, json));
        root.Subcommands.Add(EmulatorCommand());
        root.Subcommands.Add(AsteriskEmulatorCommand());

        var parsed = root.Parse(args);
        var config = new InvocationConfiguration();
        if (output is not null)
        {
            config.Output = output;
        }

        if (error is not null)
        {
            config.Error = error;
        }

        if (parsed.Errors.Count > 0)
        {
            // Exit 2 for a command line that does not parse, so scripts can tell it from "not found" (1).
            var err = error ?? Console.Error;
            foreach (var e in parsed.Errors)
            {
                err.WriteLine(e.Message);
            }

            err.WriteLine("Run 'switchboard --help' for the commands and their options.");
            return Task.FromResult(UsageError);
        }

        return parsed.InvokeAsync(config, cancellationToken);
    }

    private static Command ServeCommand(Option<string?> data, Option<string?> postgres)
    {
        var urls = new Option<string?>("--urls") { Description = "Addresses to listen on, e.g. http://0.0.0.0:8080 (default http://127.0.0.1:5000)." };
        var serve = new Command("serve", "Run the server: receive Bitrix24 events and journal them. Other ASP.NET Core settings can follow as --Key=Value.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        serve.Options.Add(urls);
        serve.SetAction(async (parse, ct) =>
        {
            var overrides = Overrides(parse, data, postgres);
            if (parse.GetValue(urls) is { } u)
            {
                overrides["urls"] = u;
            }

            await using var app = SwitchboardHost.Build([.. parse.UnmatchedTokens], overrides);
            await app.RunAsync(ct).ConfigureAwait(false);
            return 0;
        });
        return serve;
    }

    private static Command EmulatorCommand()
    {
        var urls = new Option<string?>("--urls") { Description = "Where the emulated portal listens (default http://127.0.0.1:8124)." };
        var emulator = new Command("emulator", "Run a Bitrix24 portal emulator: REST methods, the OAuth server and event delivery, for trying a set-up without a live portal. Emulator settings can follow as --Emulator:Key=Value.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        emulator.Options.Add(urls);
        emulator.SetAction(async (parse, ct) =>
        {
            var options = BindToolOptions(parse, Switchboard.Emulator.EmulatorOptions.SectionName, new Switchboard.Emulator.EmulatorOptions { Url = parse.GetValue(urls) ?? "http://127.0.0.1:8124" });

            await using var portal = new Switchboard.Emulator.PortalEmulator(options);
            await portal.StartAsync(ct).ConfigureAwait(false);
            await parse.InvocationConfiguration.Output.WriteLineAsync(portal.DescribeForConsole()).ConfigureAwait(false);
            await portal.RunAsync(ct).ConfigureAwait(false);
            return 0;
        });
        return emulator;
    }

    /// <summary>An emulator's settings: <paramref name="options"/> with its section from appsettings.json, the environment and the unmatched <c>--Section:Key=Value</c> tokens bound over it.</summary>
    private static T BindToolOptions<T>(ParseResult parse, string sectionName, T options)
    {
        var section = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine([.. parse.UnmatchedTokens])
            .Build()
            .GetSection(sectionName);
        if (section.Exists())
        {
            section.Bind(options);
        }

        return options;
    }

    private static Command AsteriskEmulatorCommand()
    {
        var port = new Option<int?>("--port") { Description = "The AMI port on 127.0.0.1 (default 5038; 0 picks a free one)." };
        var speed = new Option<double?>("--speed") { Description = "Emulated seconds per real second for ring and talk times (default 1)." };
        var command = new Command("asterisk-emulator", "Run an emulated Asterisk 22 speaking AMI, with the lab's small office (phones 101-104, DIDs, queues), for trying a set-up without a PBX. Settings can follow as --AsteriskEmulator:Key=Value.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.Options.Add(port);
        command.Options.Add(speed);
        command.SetAction(async (parse, ct) =>
        {
            var options = BindToolOptions(parse, Switchboard.AsteriskEmulator.AsteriskEmulatorOptions.SectionName, new Switchboard.AsteriskEmulator.AsteriskEmulatorOptions());

            options.Port = parse.GetValue(port) ?? options.Port;
            options.Speed = parse.GetValue(speed) ?? options.Speed;
            if (options.Speed <= 0 || options.Port is < 0 or > 65535)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--speed must be above 0 and --port within 0-65535.").ConfigureAwait(false);
                return 2;
            }

            await using var asterisk = new Switchboard.AsteriskEmulator.EmulatedAsterisk(options);
            try
            {
                await asterisk.StartAsync(ct).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"Cannot listen on {options.Host}:{options.Port}: {ex.Message}").ConfigureAwait(false);
                return 1;
            }

            await parse.InvocationConfiguration.Output.WriteLineAsync(asterisk.DescribeForConsole()).ConfigureAwait(false);
            await asterisk.RunAsync(ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    private static Command EventsCommand(Option<string?> data, Option<string?> postgres, Option<bool> json)
    {
        var limit = new Option<int>("--limit") { Description = "How many events, newest first.", DefaultValueFactory = _ => 50 };
        var name = new Option<string?>("--event") { Description = "Only this event name, e.g. ONEXTERNALCALLSTART (any case)." };
        var callId = new Option<string?>("--call-id") { Description = "Only events about this CALL_ID." };
        var portal = new Option<string?>("--portal") { Description = "Only events of this portal (member_id)." };
        var list = new Command("list", "List journaled events, newest first.") { limit, name, callId, portal };
        list.SetAction(async (parse, ct) =>
        {
            // A usage error is reported as one whatever the store: checked before the store is opened.
            var n = parse.GetValue(limit);
            if (n is < 1 or > 10_000)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("--limit must be between 1 and 10000.").ConfigureAwait(false);
                return UsageError;
            }

            return await WithStoreAsync(parse, data, postgres, (store, console) => ListAsync(store, console, parse, n, ct)).ConfigureAwait(false);
        });

        async Task<int> ListAsync(IJournalStore store, IAnsiConsole console, ParseResult parse, int n, CancellationToken ct)
        {
            var rows = await store.ListEventsAsync(new JournalQuery(n, parse.GetValue(name), parse.GetValue(callId), parse.GetValue(portal)), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(rows.Select(EventJson), Json));
                return 0;
            }

            var table = new Table().AddColumns("ID", "Received (UTC)", "Event", "Portal", "CALL_ID");
            foreach (var e in rows)
            {
                table.AddRow(
                    e.Id.ToString(CultureInfo.InvariantCulture),
                    e.ReceivedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
                    Markup.Escape(e.EventName),
                    Markup.Escape(e.MemberId),
                    Markup.Escape(e.CallId ?? "-"));
            }

            console.Write(table);
            console.WriteLine($"{rows.Count} event(s).");
            return 0;
        }

        var id = new Argument<long>("id") { Description = "The journal id (from events list)." };
        var show = new Command("show", "Show one journaled event with its decoded fields.") { id };
        show.SetAction((parse, ct) => WithStoreAsync(parse, data, postgres, async (store, console) =>
        {
            var e = await store.GetEventAsync(parse.GetValue(id), ct).ConfigureAwait(false);
            if (e is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"No event with id {parse.GetValue(id)} in the journal.");
                return NotFound;
            }

            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(EventJson(e), Json));
                return 0;
            }

            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("ID", e.Id.ToString(CultureInfo.InvariantCulture));
            grid.AddRow("Event", Markup.Escape(e.EventName));
            grid.AddRow("Portal", Markup.Escape(e.MemberId));
            grid.AddRow("CALL_ID", Markup.Escape(e.CallId ?? "-"));
            grid.AddRow("Received", e.ReceivedAt.ToString("O", CultureInfo.InvariantCulture));
            grid.AddRow("Sent (ts)", e.SentAt?.ToString("O", CultureInfo.InvariantCulture) ?? "-");
            grid.AddRow("Handler", e.HandlerId?.ToString(CultureInfo.InvariantCulture) ?? "-");
            grid.AddRow("Content type", Markup.Escape(e.ContentType));
            grid.AddRow("Dedup key", e.DedupKey);
            console.Write(grid);
            console.WriteLine();
            var fields = new Table().AddColumns("Field", "Value");
            foreach (var (key, value) in Flatten(e))
            {
                fields.AddRow(Markup.Escape(key), Markup.Escape(value));
            }

            console.Write(fields);
            return 0;
        }));

        return new Command("events", "Read the event journal.") { list, show };
    }

    // An install kept until the OAuth server proves it, or one the portal refused: its events are refused either way.
    private static string Verification(Portal p) =>
        p.InstallRefused is null ? "verified"
        : p.InstallRefused.StartsWith(Portals.EventVerifier.PendingPrefix, StringComparison.Ordinal) ? "pending"
        : "refused";

    private static Command PortalsCommand(Option<string?> data, Option<string?> postgres, Option<bool> json)
    {
        var list = new Command("list", "List the portals Switchboard is installed in.");
        list.SetAction((parse, ct) => WithStoreAsync(parse, data, postgres, async (store, console) =>
        {
            var portals = await store.ListPortalsAsync(ct).ConfigureAwait(false);
            var unreadable = await UnreadableTokensAsync(store, portals, ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(portals.Select(p => new
                {
                    p.MemberId, p.Domain, p.ClientEndpoint, p.ServerEndpoint, p.Scope, p.ApplicationStatus,
                    State = p.State.ToString().ToLowerInvariant(), p.NeedsReauthorisation, p.Version, p.LanguageId,
                    p.InstalledAt, p.UpdatedAt, p.UninstalledAt, p.HasOAuthTokens, CredentialsUnreadable = unreadable.Contains(p.MemberId),
                    Verification = Verification(p), p.InstallRefused,
                }), Json));
                return 0;
            }

            var table = new Table().AddColumns("Member ID", "Domain", "State", "App status", "Version", "Installed (UTC)", "OAuth tokens");
            foreach (var p in portals)
            {
                table.AddRow(
                    Markup.Escape(p.MemberId), Markup.Escape(p.Domain),
                    p.NeedsReauthorisation is not null ? "needs re-authorisation"
                        : p.State == PortalState.Installed && p.InstallRefused is not null ? Verification(p) + ", untrusted"
                        : p.State.ToString().ToLowerInvariant(),
                    Markup.Escape(p.ApplicationStatus ?? "-"), Markup.Escape(p.Version ?? "-"),
                    p.InstalledAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                    unreadable.Contains(p.MemberId) ? "unreadable: wrong key ring" : p.HasOAuthTokens ? "stored" : "none");
            }

            console.Write(table);
            console.WriteLine($"{portals.Count} portal(s).");
            return 0;
        }));

        var portalArg = new Argument<string>("portal") { Description = "The portal's member_id or domain (from portals list)." };
        var show = new Command("show", "Show one portal: its install steps (verify, bind, lines, users) and its users' extensions.") { portalArg };
        show.SetAction((parse, ct) => WithStoreAsync(parse, data, postgres, async (store, console) =>
        {
            var wanted = parse.GetValue(portalArg)!.Trim();
            var p = await store.FindPortalAsync(wanted, ct).ConfigureAwait(false)
                ?? (await store.ListPortalsAsync(ct).ConfigureAwait(false))
                    .Where(x => string.Equals(x.Domain, wanted, StringComparison.OrdinalIgnoreCase))
                    .OrderBy(x => x.State == Journal.PortalState.Installed ? 0 : 1).ThenByDescending(x => x.UpdatedAt)
                    .FirstOrDefault();
            if (p is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"No portal with member_id or domain '{wanted}'.");
                return NotFound;
            }

            var steps = (await store.GetSetupStepsAsync(p.MemberId, ct).ConfigureAwait(false))
                .OrderBy(st => SetupStepOrder(st.Step)).ThenBy(st => st.Step, StringComparer.Ordinal).ToList();
            var users = await store.GetPortalUsersAsync(p.MemberId, ct).ConfigureAwait(false);
            var state = p.State.ToString().ToLowerInvariant();
            if (parse.GetValue(json))
            {
                parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(new
                {
                    p.MemberId, p.Domain, p.ClientEndpoint, p.ServerEndpoint, p.Scope, p.ApplicationStatus, State = state,
                    p.NeedsReauthorisation, p.InstallRefused, p.Version, p.LanguageId, p.InstalledAt, p.UpdatedAt, p.UninstalledAt, p.HasOAuthTokens,
                    Setup = steps.Select(st => new { st.Step, Status = st.Status.ToString().ToLowerInvariant(), st.Detail, st.UpdatedAt }),
                    UserCount = users.Count,
                    UsersWithExtension = users.Count(u => u.Extension is not null),
                    Users = users.Select(u => new { u.UserId, u.Name, u.Extension, u.Active }),
                }, Json));
                return 0;
            }

            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("Member ID", Markup.Escape(p.MemberId));
            grid.AddRow("Domain", Markup.Escape(p.Domain));
            grid.AddRow("Client endpoint", Markup.Escape(p.ClientEndpoint));
            grid.AddRow("State", state);
            grid.AddRow("Install verified", p.InstallRefused is null ? "not refused" : Markup.Escape("REFUSED: " + p.InstallRefused));
            grid.AddRow("Needs re-authorisation", p.NeedsReauthorisation is null ? "no" : Markup.Escape("yes: " + p.NeedsReauthorisation));
            grid.AddRow("App status / version", Markup.Escape($"{p.ApplicationStatus ?? "-"} / {p.Version ?? "-"}"));
            grid.AddRow("Installed (UTC)", p.InstalledAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            grid.AddRow("OAuth tokens", p.HasOAuthTokens ? "stored" : "none");
            console.Write(grid);
            console.WriteLine();

            var setup = new Table().AddColumns("Step", "Status", "Detail", "Updated (UTC)");
            foreach (var st in steps)
            {
                setup.AddRow(Markup.Escape(st.Step), st.Status.ToString().ToLowerInvariant(), Markup.Escape(st.Detail ?? "-"),
                    st.UpdatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            }

            console.Write(setup);
            console.WriteLine(steps.Count == 0 ? "No setup step recorded yet." : $"{steps.Count(st => st.Status == SetupStatus.Ok)} of {steps.Count} setup step(s) ok.");
            console.WriteLine();

            var people = new Table().AddColumns("User ID", "Name", "Extension", "Active");
            foreach (var u in users)
            {
                people.AddRow(u.UserId.ToString(CultureInfo.InvariantCulture), Markup.Escape(u.Name ?? "-"), Markup.Escape(u.Extension ?? "-"), u.Active ? "yes" : "no");
            }

            console.Write(people);
            console.WriteLine($"{users.Count} user(s), {users.Count(u => u.Extension is not null)} with an extension.");
            return 0;
        }));

        return new Command("portals", "Portals (Bitrix24 accounts) Switchboard is installed in.") { list, show };
    }

    // The tokens each installed portal has stored that this key ring (--data's keys, or
    // Switchboard:Store:KeyRingDirectory) cannot decrypt: the server cannot use them either.
    private static async Task<HashSet<string>> UnreadableTokensAsync(IJournalStore store, IReadOnlyList<Journal.Portal> portals, CancellationToken ct)
    {
        var unreadable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in portals.Where(p => p is { State: Journal.PortalState.Installed, HasOAuthTokens: true }))
        {
            try
            {
                await store.GetPortalCredentialsAsync(p.MemberId, ct).ConfigureAwait(false);
            }
            catch (Storage.PortalTokensUnreadableException)
            {
                unreadable.Add(p.MemberId);
            }
        }

        return unreadable;
    }

    private static int SetupStepOrder(string step) =>
        Portals.Setup.PortalSetupHandler.Steps.All.ToList().IndexOf(step) is var i and >= 0 ? i : int.MaxValue;

    private static Task<int> WithStoreAsync(ParseResult parse, Option<string?> data, Option<string?> postgres, Func<IJournalStore, IAnsiConsole, Task<int>> work) =>
        WithOptionsAsync(parse, data, postgres, async (options, console) =>
        {
            // Read only: no InitializeAsync, which creates and upgrades the schema. Reading must work
            // with a read-only database role, and must not plant a schema in whatever database
            // --postgres names by mistake; a store without the tables fails here with its reason.
            using var tokens = new Storage.TokenProtector(options.KeyRingPath, readOnly: true);
            await using var store = options.CreateStore(tokens);
            return await work(store, console).ConfigureAwait(false);
        });

    /// <summary>Opens nothing itself: resolves the store settings, checks a SQLite file exists, and turns store failures into exit code 3.</summary>
    private static async Task<int> WithOptionsAsync(ParseResult parse, Option<string?> data, Option<string?> postgres, Func<JournalOptions, IAnsiConsole, Task<int>> work)
    {
        var options = LoadJournalOptions(Overrides(parse, data, postgres));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
        });
        if (!console.Profile.Out.IsTerminal)
        {
            // Piped or redirected there is no window to fit, and Spectre would wrap at 80 columns,
            // splitting CALL_IDs and member_ids across lines where grep and copy cannot find them.
            console.Profile.Width = UnwrappedWidth;
        }

        if (!options.UsesPostgres && !File.Exists(options.SqlitePath))
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"No journal at {options.SqlitePath}. Run 'switchboard serve' first, or point --data at the server's data directory.").ConfigureAwait(false);
            return StoreUnavailable;
        }

        try
        {
            return await work(options, console).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or IOException or TimeoutException or JsonException)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"Cannot read the store ({options.Describe()}): {ex.Message}").ConfigureAwait(false);
            return StoreUnavailable;
        }
    }

    private static Dictionary<string, string?> Overrides(ParseResult parse, Option<string?> data, Option<string?> postgres)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (parse.GetValue(data) is { } d)
        {
            overrides[$"{JournalOptions.SectionName}:DataDirectory"] = d;
        }

        if (parse.GetValue(postgres) is { } pg)
        {
            overrides[$"{JournalOptions.SectionName}:PostgresConnectionString"] = pg;
        }

        return overrides;
    }

    /// <summary>The store settings the server would use: appsettings.json, environment, then flags.</summary>
    private static JournalOptions LoadJournalOptions(Dictionary<string, string?> overrides)
    {
        var options = new JournalOptions();
        LoadConfiguration(overrides).GetSection(JournalOptions.SectionName).Bind(options);
        return options;
    }

    /// <summary>The server's configuration sources, in the server's order, without its command line.</summary>
    private static IConfigurationRoot LoadConfiguration(Dictionary<string, string?> overrides) =>
        new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production"}.json", optional: true)
            .AddEnvironmentVariables()
            .AddInMemoryCollection(overrides)
            .Build();

    private static object EventJson(JournalEntry e) => new
    {
        e.Id, e.ReceivedAt, e.MemberId, Event = e.EventName, e.CallId, e.HandlerId, e.SentAt, e.ContentType, e.DedupKey, e.Body,
    };

    private static IEnumerable<(string Key, string Value)> Flatten(JournalEntry e)
    {
        var parsed = Receiving.JournalBody.ParseStored(e.ContentType, e.Body);
        if (!parsed.Success)
        {
            yield return ("(body)", e.Body);
            yield break;
        }

        foreach (var item in Flatten(parsed.Root, null))
        {
            yield return item;
        }
    }

    private static IEnumerable<(string Key, string Value)> Flatten(FormNode node, string? prefix)
    {
        foreach (var (key, child) in node.Children)
        {
            var name = prefix is null ? key : $"{prefix}[{key}]";
            if (child.IsValue)
            {
                yield return (name, child.Value);
            }
            else
            {
                foreach (var item in Flatten(child, name))
                {
                    yield return item;
                }
            }
        }
    }
}
