using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Emulator;

/// <summary>
/// One emulated Bitrix24 portal on Kestrel: REST at <c>&lt;base&gt;/rest/&lt;method&gt;</c>, the OAuth
/// server at <c>&lt;base&gt;/oauth/token/</c>, inspectable state at <c>&lt;base&gt;/emulator/state</c> and
/// admin endpoints under <c>&lt;base&gt;/emulator/</c> that send events to bound handlers.
/// State survives <see cref="StopAsync"/>/<see cref="StartAsync"/>; a restart listens on the same port.
/// </summary>
public sealed class PortalEmulator : IAsyncDisposable
{
    private static readonly FormLimits RequestLimits = new() { MaxKeys = 20_000, MaxDepth = 16, MaxKeyLength = 1024, MaxValueLength = 256 * 1024 * 1024 };
    private static readonly JsonSerializerOptions StateJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private static readonly object AfterApplyFault = new();

    // The methods whose requests are counted per CALL_ID (RequestLogEntry.CallId, PortalState.RequestsFor).
    private static readonly HashSet<string> CallMethods = new HashSet<string>(StringComparer.Ordinal)
    {
        "telephony.externalcall.register",
        "telephony.externalcall.show",
        "telephony.externalcall.hide",
        "telephony.externalcall.finish",
        "telephony.externalcall.attachrecord",
    };

    private readonly EmulatorOptions _options;
    private readonly TimeProvider _time;
    private readonly TokenStore _tokens;
    private readonly LeakyBucket _bucket;
    private readonly OperatingClock _operating;
    private readonly RestMethods _methods;
    private readonly EventSender _sender;
    private readonly SemaphoreSlim _lifecycle = new(1, 1);
    private readonly Channel<(string Kind, string CallId)> _echoes = Channel.CreateUnbounded<(string, string)>();
    private Task? _echoLoop;
    private CancellationTokenSource? _echoStop;
    private WebApplication? _app;
    private Uri? _base;
    private int _port;
    private bool _disposed;

    /// <summary>Creates a stopped emulator; call <see cref="StartAsync"/>.</summary>
    /// <param name="options">Portal identity, limits and seed data.</param>
    /// <param name="time">The clock for token expiry, the leaky bucket and operating time (tests pass a fake one).</param>
    public PortalEmulator(EmulatorOptions? options = null, TimeProvider? time = null)
    {
        _options = options ?? new EmulatorOptions();
        _time = time ?? TimeProvider.System;
        State = new PortalState(_options);
        Faults = new Faults();
        _tokens = new TokenStore(_options, _time);
        _bucket = new LeakyBucket(_options, _time);
        _operating = new OperatingClock(_options, _time);
        _methods = new RestMethods(_options, State, Faults, _time, () => BaseAddress.ToString());
        _sender = new EventSender(_options, State, _tokens, _time, Addresses);
        _methods.CallChanged = (kind, callId) =>
        {
            if (_options.EchoCallEvents)
            {
                _echoes.Writer.TryWrite((kind, callId));
            }
        };
    }

    /// <summary>The portal's data: users, lines, handlers, calls, recordings, request log, refresh count.</summary>
    public PortalState State { get; }

    /// <summary>Fault injection: failing requests, delays, dropped connections, an outage switch.</summary>
    public Faults Faults { get; }

    /// <summary>The options the emulator runs with.</summary>
    public EmulatorOptions Options => _options;

    /// <summary>The bound base address, e.g. <c>http://127.0.0.1:53124/</c> (ends with a slash).</summary>
    public Uri BaseAddress => _base ?? throw new InvalidOperationException("The emulator has not been started.");

    /// <summary><c>client_endpoint</c>: <c>&lt;base&gt;/rest/</c>.</summary>
    public Uri ClientEndpoint => new(BaseAddress, "rest/");

    /// <summary>The OAuth token endpoint: <c>&lt;base&gt;/oauth/token/</c>.</summary>
    public Uri TokenEndpoint => new(BaseAddress, "oauth/token/");

    /// <summary>True while Kestrel is listening.</summary>
    public bool IsRunning => _app is not null;

    /// <summary>Starts Kestrel (again on the same port after a stop).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (_app is not null)
            {
                return;
            }

            var configured = new Uri(_options.Url);
            var address = configured.Host is "localhost" ? IPAddress.Loopback : IPAddress.Parse(configured.DnsSafeHost);
            var port = _port != 0 ? _port : configured.Port;
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            // The admin endpoints take fault kinds by name ({"kind":"ApplyThenDrop"}), as the README shows; numbers still work.
            builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(address, port);
                k.Limits.MaxRequestBodySize = 256L * 1024 * 1024;
            });
            var app = builder.Build();
            Map(app);
            await app.StartAsync(cancellationToken);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var uri = new Uri(bound);
            _port = uri.Port;
            _base = new Uri($"http://{configured.Host}:{_port.ToString(CultureInfo.InvariantCulture)}/");
            _app = app;
            _echoStop = new CancellationTokenSource();
            _echoLoop = EchoLoopAsync(_echoStop.Token);
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires (for a CLI command), then stops.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }

        await StopAsync(CancellationToken.None);
    }

    /// <summary>Stops listening; the state and the port are kept for a later <see cref="StartAsync"/>.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _lifecycle.WaitAsync(cancellationToken);
        try
        {
            if (_app is null)
            {
                return;
            }

            await _echoStop!.CancelAsync();
            await _echoLoop!;
            _echoStop.Dispose();
            await _app.StopAsync(cancellationToken);
            await _app.DisposeAsync();
            _app = null;
        }
        finally
        {
            _lifecycle.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        await StopAsync();
        _disposed = true;
        _lifecycle.Dispose();
    }

    /// <summary>Issues a fresh access/refresh pair for a user, as an install or a browser session would.</summary>
    public TokenPair IssueTokens(long userId = 1) => _tokens.Issue(userId);

    /// <summary>
    /// Lets this emulator's OAuth server also answer for another portal: a refresh of
    /// <paramref name="refreshToken"/> answers with <paramref name="memberId"/> and
    /// <paramref name="clientEndpoint"/> (and rotates, as every refresh does). For tests that pretend to
    /// be many portals while Switchboard proves each install at one OAuth server, as it does with the
    /// cloud's (https://apidocs.bitrix24.com/settings/oauth/index.html).
    /// </summary>
    public void RegisterPortalGrant(string memberId, Uri clientEndpoint, string accessToken, string refreshToken, long userId = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentNullException.ThrowIfNull(clientEndpoint);
        ArgumentException.ThrowIfNullOrEmpty(accessToken);
        ArgumentException.ThrowIfNullOrEmpty(refreshToken);
        _tokens.Register(new TokenPair(accessToken, refreshToken, userId, _time.GetUtcNow() + _options.AccessTokenLifetime), new GrantPortal(memberId, clientEndpoint.ToString()));
    }

    /// <summary>
    /// The Switchboard settings that point a server at this emulator (started emulator only): its
    /// domain allowed to install, its OAuth server and app credentials, plain http and loopback allowed
    /// (lab only). What the README's lab section passes as flags.
    /// </summary>
    public Dictionary<string, string?> SwitchboardSettings() => new()
    {
        ["Switchboard:Install:AllowedDomains"] = BaseAddress.Host,
        ["Switchboard:Install:AllowInsecureHttp"] = "true",
        ["Switchboard:Bitrix24:ClientId"] = _options.ClientId,
        ["Switchboard:Bitrix24:ClientSecret"] = _options.ClientSecret,
        ["Switchboard:Bitrix24:OAuthServer"] = BaseAddress.ToString(),
        ["Switchboard:Bitrix24:AllowInsecureHttp"] = "true",
        ["Switchboard:Bitrix24:AllowedNetworks:0"] = "127.0.0.0/8",
    };

    /// <summary>A REST client acting as this portal's administrator (started emulator only). Dispose it.</summary>
    public EmulatorAdmin CreateAdmin() => new(this);

    internal PortalAddresses Addresses()
    {
        var host = BaseAddress.Authority;
        return new PortalAddresses(_options.Domain ?? host, ClientEndpoint.ToString(), ClientEndpoint.ToString(), host);
    }

    private EmulatedUser Admin => State.Users.FirstOrDefault(u => u.IsAdmin) ?? State.Users[0];

    // ---------------------------------------------------------------- events

    /// <summary>
    /// ONAPPINSTALL to the app's installation URL (nothing is bound yet; REFERENCE §2.5): the admin's
    /// fresh tokens, VERSION, ACTIVE=Y, INSTALLED=Y, LANGUAGE_ID.
    /// </summary>
    public async Task<EventSendResult> SendInstallAsync(Uri handlerUrl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handlerUrl);
        var data = Data(("VERSION", _options.AppVersion), ("ACTIVE", "Y"), ("INSTALLED", "Y"), ("LANGUAGE_ID", "en"));
        var body = _sender.BuildBody("ONAPPINSTALL", null, data, EventAuthKind.UserTokens, Admin.Id);
        var delivery = await _sender.PostAsync("ONAPPINSTALL", handlerUrl.ToString(), 0, body, cancellationToken);
        return new EventSendResult("ONAPPINSTALL", [delivery]);
    }

    /// <summary>
    /// A click-to-call (REFERENCE §5.1): the portal registers the call itself (EXTERNAL_CALL_ID empty)
    /// and sends ONEXTERNALCALLSTART with the new CALL_ID to every bound handler.
    /// </summary>
    public async Task<EventSendResult> SendClickToCallAsync(ClickToCall request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var user = State.Users.FirstOrDefault(u => u.Id == request.UserId) ?? throw new ArgumentException($"No user {request.UserId}.", nameof(request));
        var now = _time.GetUtcNow();
        var call = new EmulatedCall
        {
            CallId = RestMethods.NewCallId(now),
            Origin = "click-to-call",
            UserId = user.Id,
            PhoneNumber = request.PhoneNumber,
            Type = 1,
            LineNumber = request.LineNumber,
            RegisteredAt = now,
            CrmEntityType = request.CrmEntityType,
            CrmEntityId = request.CrmEntityId,
            RegisterParameters = new Dictionary<string, string> { ["PHONE_NUMBER"] = request.PhoneNumber, ["USER_ID"] = user.Id.ToString(CultureInfo.InvariantCulture), ["TYPE"] = "1", ["LINE_NUMBER"] = request.LineNumber },
        };
        lock (State.Sync)
        {
            State.CallList.Add(call);
        }

        var data = Data(
            ("PHONE_NUMBER", request.PhoneNumber),
            ("PHONE_NUMBER_INTERNATIONAL", request.PhoneNumber),
            ("EXTENSION", ""),
            ("USER_ID", user.Id.ToString(CultureInfo.InvariantCulture)),
            ("CALL_LIST_ID", request.CallListId.ToString(CultureInfo.InvariantCulture)),
            ("LINE_NUMBER", request.LineNumber),
            ("IS_MOBILE", request.IsMobile ? "1" : "0"),
            ("CALL_ID", call.CallId),
            ("CRM_ENTITY_TYPE", request.CrmEntityType ?? ""),
            ("CRM_ENTITY_ID", request.CrmEntityId?.ToString(CultureInfo.InvariantCulture) ?? ""));
        var deliveries = await _sender.SendToBoundAsync("ONEXTERNALCALLSTART", data, EventAuthKind.UserTokens, user.Id, cancellationToken);
        return new EventSendResult("ONEXTERNALCALLSTART", deliveries, call.CallId);
    }

    /// <summary>ONVOXIMPLANTCALLINIT for a known call (REFERENCE §5.3).</summary>
    public async Task<EventSendResult> SendCallInitAsync(string callId, CancellationToken cancellationToken = default)
    {
        var call = RequireCall(callId);
        var data = Data(
            ("CALL_ID", call.CallId),
            ("CALL_TYPE", call.Type.ToString(CultureInfo.InvariantCulture)),
            ("ACCOUNT_SEARCH_ID", ""),
            ("PHONE_NUMBER", ""),
            ("CALLER_ID", call.Type == 1 ? call.LineNumber : call.PhoneNumber),
            ("REST_APP_ID", "17"));
        return new("ONVOXIMPLANTCALLINIT", await _sender.SendToBoundAsync("ONVOXIMPLANTCALLINIT", data, EventAuthKind.UserTokens, call.UserId, cancellationToken), call.CallId);
    }

    /// <summary>ONVOXIMPLANTCALLSTART: <paramref name="userId"/> answered (REFERENCE §5.4).</summary>
    public async Task<EventSendResult> SendCallStartAsync(string callId, long? userId = null, CancellationToken cancellationToken = default)
    {
        var call = RequireCall(callId);
        var who = userId ?? call.UserId;
        var data = Data(("CALL_ID", call.CallId), ("USER_ID", who.ToString(CultureInfo.InvariantCulture)));
        return new("ONVOXIMPLANTCALLSTART", await _sender.SendToBoundAsync("ONVOXIMPLANTCALLSTART", data, EventAuthKind.UserTokens, who, cancellationToken), call.CallId);
    }

    /// <summary>ONVOXIMPLANTCALLEND (REFERENCE §5.5); values default to what finish recorded.</summary>
    public async Task<EventSendResult> SendCallEndAsync(string callId, string? failedCode = null, int? durationSeconds = null, CancellationToken cancellationToken = default)
    {
        var call = RequireCall(callId);
        var finish = call.FinishParameters ?? new Dictionary<string, string>();
        var duration = durationSeconds ?? (int.TryParse(finish.GetValueOrDefault("DURATION"), CultureInfo.InvariantCulture, out var d) ? d : 0);
        var code = failedCode ?? finish.GetValueOrDefault("STATUS_CODE") ?? (duration > 0 ? "200" : "304");
        var data = Data(
            ("CALL_ID", call.CallId),
            ("CALL_TYPE", call.Type.ToString(CultureInfo.InvariantCulture)),
            ("PHONE_NUMBER", call.PhoneNumber),
            ("PORTAL_NUMBER", call.LineNumber.Length > 0 ? call.LineNumber : "REST_APP:"),
            ("PORTAL_USER_ID", call.UserId.ToString(CultureInfo.InvariantCulture)),
            ("CALL_DURATION", duration.ToString(CultureInfo.InvariantCulture)),
            ("CALL_START_DATE", call.RegisteredAt.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture)),
            ("COST", "0.0000"),
            ("COST_CURRENCY", ""),
            ("CALL_FAILED_CODE", code),
            ("CALL_FAILED_REASON", finish.GetValueOrDefault("FAILED_REASON") ?? ""),
            ("CRM_ACTIVITY_ID", (1000 + (call.StatisticId ?? 0)).ToString(CultureInfo.InvariantCulture)));
        return new("ONVOXIMPLANTCALLEND", await _sender.SendToBoundAsync("ONVOXIMPLANTCALLEND", data, EventAuthKind.UserTokens, call.UserId, cancellationToken), call.CallId);
    }

    /// <summary>
    /// ONAPPUPDATE (REFERENCE §2.3) with the full auth set; afterwards every handler is removed, as
    /// "removing or updating the app deletes its handlers" (event-bind.md).
    /// </summary>
    public async Task<EventSendResult> SendAppUpdateAsync(string newVersion, CancellationToken cancellationToken = default) =>
        await SendAppUpdateAsync(newVersion, newApplicationToken: null, cancellationToken);

    /// <summary>
    /// ONAPPUPDATE, optionally with a new application token: "the event carries the updated
    /// application_token" (REFERENCE §2.3, EN-docs on-app-update.md), and every later event carries it too.
    /// </summary>
    public async Task<EventSendResult> SendAppUpdateAsync(string newVersion, string? newApplicationToken, CancellationToken cancellationToken = default)
    {
        var previous = _options.AppVersion;
        _options.AppVersion = newVersion;
        if (newApplicationToken is not null)
        {
            _options.ApplicationToken = newApplicationToken;
        }

        var data = Data(("VERSION", newVersion), ("PREVIOUS_VERSION", previous), ("LANGUAGE_ID", "en"));
        // The update drops the application's handlers (REFERENCE §1.4, §2.3: "Handlers must be re-bound
        // after an update"); the ONAPPUPDATE still reaches the handlers bound before it. Dropped first,
        // so a handler that re-binds as soon as it hears of the update keeps its new binding.
        var boundBefore = State.Handlers;
        ClearHandlers();
        var deliveries = await _sender.SendToBoundAsync("ONAPPUPDATE", data, EventAuthKind.UserTokens, Admin.Id, cancellationToken, boundBefore);
        return new("ONAPPUPDATE", deliveries);
    }

    /// <summary>ONAPPUNINSTALL (REFERENCE §2.2): no access/refresh token in auth; afterwards handlers are removed.</summary>
    public async Task<EventSendResult> SendAppUninstallAsync(bool clean = false, CancellationToken cancellationToken = default)
    {
        var data = Data(("LANGUAGE_ID", "en"), ("CLEAN", clean ? "1" : "0"));
        var deliveries = await _sender.SendToBoundAsync("ONAPPUNINSTALL", data, EventAuthKind.NoTokens, Admin.Id, cancellationToken);
        ClearHandlers();
        return new("ONAPPUNINSTALL", deliveries);
    }

    /// <summary>
    /// Any event (e.g. ONEXTERNALCALLBACKSTART) with the given <c>data</c> to every handler bound to it,
    /// with <paramref name="userId"/>'s fresh tokens in <c>auth</c>.
    /// </summary>
    public async Task<EventSendResult> SendEventAsync(string eventName, IReadOnlyDictionary<string, string> data, long userId = 1, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        ArgumentNullException.ThrowIfNull(data);
        var name = eventName.ToUpperInvariant();
        var fields = data.Select(kv => new KeyValuePair<string, object?>(kv.Key, kv.Value)).ToList();
        var kind = name == "ONAPPUNINSTALL" ? EventAuthKind.NoTokens : EventAuthKind.UserTokens;
        return new(name, await _sender.SendToBoundAsync(name, fields, kind, userId, cancellationToken), data.GetValueOrDefault("CALL_ID"));
    }

    /// <summary>
    /// What a person needs to point Switchboard at this portal: addresses, the app's credentials and a
    /// fresh token pair for the admin. Secrets are printed on purpose: they are the emulator's own.
    /// </summary>
    public string DescribeForConsole()
    {
        var a = Addresses();
        var pair = IssueTokens(Admin.Id);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Bitrix24 portal emulator listening on {BaseAddress}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  client_endpoint    {a.ClientEndpoint}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  OAuth token URL    {TokenEndpoint}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  domain             {a.Domain}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  member_id          {_options.MemberId}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  application_token  {_options.ApplicationToken}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  client_id          {_options.ClientId}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  client_secret      {_options.ClientSecret}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  admin access_token {pair.AccessToken} (expires {pair.Expires:O})");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  admin refresh_token {pair.RefreshToken}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"  state              {new Uri(BaseAddress, "emulator/state")}");
        return sb.ToString();
    }

    /// <summary>Builds the exact form body an event would carry (for tests and the CLI's dry runs).</summary>
    public string BuildEventBody(string eventName, IReadOnlyDictionary<string, string> data, long userId = 1, long? handlerId = null) =>
        _sender.BuildBody(eventName, handlerId, data.Select(kv => new KeyValuePair<string, object?>(kv.Key, kv.Value)).ToList(), EventAuthKind.UserTokens, userId);

    // The portal's queue sends echo events after the REST call has answered (REFERENCE §1.3: queued, not direct).
    private async Task EchoLoopAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var (kind, callId) in _echoes.Reader.ReadAllAsync(stop))
            {
                _ = kind == "init" ? await SendCallInitAsync(callId, stop) : await SendCallEndAsync(callId, cancellationToken: stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: echoes still queued are sent after the next start.
        }
    }

    private void ClearHandlers()
    {
        lock (State.Sync)
        {
            State.HandlerList.Clear();
        }
    }

    private EmulatedCall RequireCall(string callId) => State.FindCall(callId) ?? throw new ArgumentException($"No call {callId}.", nameof(callId));

    private static List<KeyValuePair<string, object?>> Data(params (string Key, string Value)[] pairs) =>
        pairs.Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)).ToList();

    // ---------------------------------------------------------------- HTTP

    private void Map(WebApplication app)
    {
        app.MapMethods("/rest/{**method}", ["GET", "POST"], HandleRestAsync);
        app.MapMethods("/oauth/token/", ["GET", "POST"], HandleTokenAsync); // Routing also matches it without the slash.
        app.MapGet("/emulator/state", () => Results.Text(StateJsonText(), "application/json"));
        app.MapPost("/emulator/tokens", (long? userId) => Results.Json(IssueTokens(userId ?? Admin.Id)));
        app.MapPost("/emulator/faults", (FaultRequest r) =>
        {
            Faults.Outage = r.Outage ?? Faults.Outage;
            if (r.Kind is { } kind)
            {
                Faults.FailNext(r.Count ?? 1, kind, r.Method);
            }

            return Results.Ok();
        });
        app.MapPost("/emulator/send/install", async (InstallRequest r, CancellationToken ct) => Results.Json(await SendInstallAsync(new Uri(r.Url), ct)));
        app.MapPost("/emulator/send/click-to-call", async (ClickToCall r, CancellationToken ct) => Results.Json(await SendClickToCallAsync(r, ct)));
        app.MapPost("/emulator/send/call-init", async (CallEventRequest r, CancellationToken ct) => Results.Json(await SendCallInitAsync(r.CallId, ct)));
        app.MapPost("/emulator/send/call-start", async (CallEventRequest r, CancellationToken ct) => Results.Json(await SendCallStartAsync(r.CallId, r.UserId, ct)));
        app.MapPost("/emulator/send/call-end", async (CallEventRequest r, CancellationToken ct) => Results.Json(await SendCallEndAsync(r.CallId, r.FailedCode, r.Duration, ct)));
        app.MapPost("/emulator/send/update", async (UpdateRequest r, CancellationToken ct) => Results.Json(await SendAppUpdateAsync(r.Version, r.ApplicationToken, ct)));
        app.MapPost("/emulator/send/event", async (GenericEventRequest r, CancellationToken ct) => Results.Json(await SendEventAsync(r.Event, r.Data ?? new Dictionary<string, string>(), r.UserId ?? Admin.Id, ct)));
        app.MapPost("/emulator/send/uninstall", async (UninstallRequest r, CancellationToken ct) => Results.Json(await SendAppUninstallAsync(r.Clean, ct)));
    }

    /// <summary>The state as JSON (what <c>GET /emulator/state</c> answers).</summary>
    public string StateJsonText()
    {
        lock (State.Sync)
        {
            var root = new JsonObject
            {
                ["member_id"] = _options.MemberId,
                ["client_endpoint"] = _base is null ? null : ClientEndpoint.ToString(),
                ["refresh_count"] = State.Refreshes,
                ["rate_limit_level"] = _bucket.Level,
                ["users"] = JsonSerializer.SerializeToNode(State.UserList, StateJson),
                ["lines"] = JsonSerializer.SerializeToNode(State.LineList, StateJson),
                ["handlers"] = JsonSerializer.SerializeToNode(State.HandlerList, StateJson),
                ["calls"] = JsonSerializer.SerializeToNode(State.CallList, StateJson),
                ["recordings"] = JsonSerializer.SerializeToNode(State.RecordingList, StateJson),
                ["deliveries"] = JsonSerializer.SerializeToNode(State.DeliveryList, StateJson),
                ["requests"] = JsonSerializer.SerializeToNode(State.Log, StateJson),
                ["call_requests"] = CallRequests(State.Log),
            };
            return root.ToJsonString(StateJson);
        }
    }

    // {"<CALL_ID>": {"telephony.externalcall.finish": 2, ...}}: what PortalState.RequestsFor counts.
    private static JsonObject CallRequests(IEnumerable<RequestLogEntry> log)
    {
        var calls = new JsonObject();
        foreach (var entry in log)
        {
            if (entry.CallId is not { } callId)
            {
                continue;
            }

            if (calls[callId] is not JsonObject methods)
            {
                methods = new JsonObject();
                calls[callId] = methods;
            }

            methods[entry.Method] = (methods[entry.Method]?.GetValue<int>() ?? 0) + 1;
        }

        return calls;
    }

    // The CALL_ID a telephony.externalCall.* request was about: register's is the one it issued.
    private static string? CallIdOf(string method, FormNode p, RestOutcome outcome)
    {
        if (!CallMethods.Contains(method))
        {
            return null;
        }

        if (method == "telephony.externalcall.register")
        {
            return outcome.Result is JsonObject result && result["CALL_ID"] is JsonValue id && id.TryGetValue<string>(out var issued) ? issued : null;
        }

        return Params.Str(p, "CALL_ID");
    }

    private async Task<bool> ApplyFaultAsync(HttpContext context, string method)
    {
        if (Faults.Outage)
        {
            await Write(context, method, 503, "<html><head><title>503 Service Temporarily Unavailable</title></head><body>503 Service Temporarily Unavailable</body></html>", "text/html", "OUTAGE");
            return true;
        }

        var fault = Faults.Take(method);
        switch (fault)
        {
            case FaultKind.InternalServerError:
                await WriteError(context, method, 500, "INTERNAL_SERVER_ERROR", "Internal server error");
                return true;
            case FaultKind.QueryLimitExceeded:
                await WriteError(context, method, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
                return true;
            case FaultKind.DropConnection:
                State.Record(new RequestLogEntry(method, _time.GetUtcNow(), 0, "DROPPED"));
                context.Abort();
                return true;
            case FaultKind.Delay:
                await Task.Delay(Faults.Delay, context.RequestAborted);
                return false;
            case FaultKind.ApplyThenDrop or FaultKind.ApplyThenDelay:
                // Executed as usual; Write then drops or holds the answer it was about to send.
                context.Items[AfterApplyFault] = fault;
                return false;
            default:
                return false;
        }
    }

    private async Task HandleRestAsync(HttpContext context, string method)
    {
        var name = method.ToLowerInvariant();
        // EN-docs general-principles.md: an optional .json (default) or .xml transport suffix.
        if (name.EndsWith(".json", StringComparison.Ordinal))
        {
            name = name[..^5];
        }

        if (await ApplyFaultAsync(context, name))
        {
            return;
        }

        var p = await ReadParamsAsync(context);
        if (p is null)
        {
            await WriteError(context, name, 400, "INVALID_REQUEST", "The request body could not be parsed.");
            return;
        }

        if (name == "upload")
        {
            await HandleUploadAsync(context, p);
            return;
        }

        // EN-docs _includes/system-errors.md: 401 expired_token / 401 NO_AUTH_FOUND.
        var (check, pair) = _tokens.Check(Params.Str(p, "auth"));
        if (check == TokenCheck.Expired)
        {
            await WriteError(context, name, 401, "expired_token", "The access token provided has expired.");
            return;
        }

        var user = pair is null ? null : State.Users.FirstOrDefault(u => u.Id == pair.UserId);
        if (check == TokenCheck.Unknown || pair is null || user is null)
        {
            await WriteError(context, name, 401, "NO_AUTH_FOUND", "Wrong authorization data");
            return;
        }

        // EN-docs limits.md: the counter exceeds X → 503 QUERY_LIMIT_EXCEEDED; a batch counts as one request.
        if (!_bucket.TryTake())
        {
            await WriteError(context, name, 503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
            return;
        }

        var caller = new Caller(user, pair);
        var started = _time.GetUtcNow();
        string? callId = null;
        RestOutcome outcome;
        double operating = 0;
        var resetAt = started;
        if (name == "batch")
        {
            outcome = await BatchAsync(p, caller, context.RequestAborted);
        }
        else if (!RestMethods.Names.Contains(name))
        {
            outcome = MethodNotFound();
        }
        else if (_operating.IsBlocked(name, out var blockedUntil))
        {
            outcome = OperationTimeLimit(blockedUntil);
        }
        else
        {
            outcome = await _methods.InvokeAsync(name, p, caller, context.RequestAborted);
            (operating, resetAt) = _operating.Charge(name, _options.OperatingCostPerCall.TotalSeconds);
            callId = CallIdOf(name, p, outcome);
        }

        if (outcome.IsError)
        {
            await WriteError(context, name, outcome.Status, outcome.Error!, outcome.Description!, callId);
            return;
        }

        var body = new JsonObject { ["result"] = outcome.Result };
        if (outcome.Next is { } next)
        {
            body["next"] = next;
        }

        if (outcome.Total is { } total)
        {
            body["total"] = total;
        }

        body["time"] = TimeBlock(started, operating, resetAt);
        await Write(context, name, 200, body.ToJsonString(), "application/json", null, callId);
    }

    // Bitrix's rest module answers an unknown method with ERROR_METHOD_NOT_FOUND "Method not found!"
    // (seen from real portals, e.g. mesilov/bitrix24-php-sdk#140; EN-docs rest-v3.md uses the same code
    // with HTTP 404). Chosen over ERROR_CORE because clients can tell "no such method" from a method error.
    private static RestOutcome MethodNotFound() => RestOutcome.Fail(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");

    // RU-docs system-errors: 429 OPERATION_TIME_LIMIT "Method is blocked due to operation time limit".
    private static RestOutcome OperationTimeLimit(DateTimeOffset until) =>
        RestOutcome.Fail(429, "OPERATION_TIME_LIMIT", $"Method is blocked due to operation time limit. Unblock at {until.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");

    private JsonObject TimeBlock(DateTimeOffset started, double operating, DateTimeOffset resetAt)
    {
        // EN-docs api-reference/data-types.md#time.
        var finished = _time.GetUtcNow();
        var start = started.ToUnixTimeMilliseconds() / 1000.0;
        var finish = finished.ToUnixTimeMilliseconds() / 1000.0;
        return new JsonObject
        {
            ["start"] = start,
            ["finish"] = finish,
            ["duration"] = finish - start,
            ["processing"] = finish - start,
            ["date_start"] = started.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
            ["date_finish"] = finished.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
            ["operating_reset_at"] = resetAt.ToUnixTimeSeconds(),
            ["operating"] = operating,
        };
    }

    // EN-docs settings/how-to-call-rest-api/batch.md (REFERENCE §4.6).
    private async Task<RestOutcome> BatchAsync(FormNode p, Caller caller, CancellationToken ct)
    {
        var cmd = Params.Node(p, "cmd");
        var commands = cmd switch
        {
            null => [],
            { IsValue: true } => [],
            _ => cmd.Children.ToList(),
        };
        if (commands.Count > 50)
        {
            // "At most 50 commands" — bitrix rest module: 400 ERROR_BATCH_LENGTH_EXCEEDED "Max batch length exceeded".
            return RestOutcome.Fail(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded");
        }

        var halt = Params.Flag(p, "halt", false);
        var result = new JsonObject();
        var errors = new JsonObject();
        var totals = new JsonObject();
        var nexts = new JsonObject();
        var times = new JsonObject();
        foreach (var (id, value) in commands)
        {
            var started = _time.GetUtcNow();
            var text = value.IsValue ? value.Value : "";
            var q = text.IndexOf('?', StringComparison.Ordinal);
            var name = (q < 0 ? text : text[..q]).Trim().ToLowerInvariant();
            if (name.EndsWith(".json", StringComparison.Ordinal))
            {
                name = name[..^5];
            }

            var parsed = PhpFormParser.Parse(q < 0 ? "" : text[(q + 1)..], RequestLimits);
            RestOutcome outcome;
            string? callId = null;
            if (name == "batch")
            {
                // Nested batch is forbidden since rest 24.0.0.
                outcome = RestOutcome.Fail(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage");
            }
            else if (!RestMethods.Names.Contains(name) || parsed.Root is null)
            {
                outcome = MethodNotFound();
            }
            else if (_operating.IsBlocked(name, out var until))
            {
                outcome = OperationTimeLimit(until);
            }
            else
            {
                outcome = await _methods.InvokeAsync(name, parsed.Root, caller, ct);
                // "An outer batch is not counted, but each command inside it is."
                var (operating, resetAt) = _operating.Charge(name, _options.OperatingCostPerCall.TotalSeconds);
                times[id] = TimeBlock(started, operating, resetAt);
                callId = CallIdOf(name, parsed.Root, outcome);
            }

            // Each command is logged on its own, so a finish inside a batch counts like a finish on its own.
            State.Record(new RequestLogEntry(name, _time.GetUtcNow(), outcome.Status, outcome.Error) { CallId = callId, BatchCommand = id });

            if (outcome.IsError)
            {
                errors[id] = new JsonObject { ["error"] = outcome.Error, ["error_description"] = outcome.Description };
                if (halt)
                {
                    break;
                }

                continue;
            }

            result[id] = outcome.Result;
            if (outcome.Total is { } total)
            {
                totals[id] = total;
            }

            if (outcome.Next is { } next)
            {
                nexts[id] = next;
            }
        }

        // "Empty parts come as [] (a JSON array, not an object)."
        static JsonNode Part(JsonObject o) => o.Count == 0 ? new JsonArray() : o;
        return RestOutcome.Ok(new JsonObject
        {
            ["result"] = Part(result),
            ["result_error"] = Part(errors),
            ["result_total"] = Part(totals),
            ["result_next"] = Part(nexts),
            ["result_time"] = Part(times),
        });
    }

    private async Task HandleUploadAsync(HttpContext context, FormNode query)
    {
        var (check, _) = _tokens.Check(Params.Str(query, "auth"));
        if (check != TokenCheck.Valid)
        {
            await WriteError(context, "upload", 401, check == TokenCheck.Expired ? "expired_token" : "NO_AUTH_FOUND",
                check == TokenCheck.Expired ? "The access token provided has expired." : "Wrong authorization data");
            return;
        }

        if (!context.Request.HasFormContentType)
        {
            await WriteError(context, "upload", 400, "ERROR_CORE", "multipart/form-data with a 'file' field is expected");
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var file = form.Files.GetFile("file");
        if (file is null)
        {
            await WriteError(context, "upload", 400, "ERROR_CORE", "File is not found in the 'file' field");
            return;
        }

        var outcome = _methods.CompleteUpload(Params.Str(query, "token"), file.FileName, file.Length);
        if (outcome.IsError)
        {
            await WriteError(context, "upload", outcome.Status, outcome.Error!, outcome.Description!);
            return;
        }

        var body = new JsonObject { ["result"] = outcome.Result, ["time"] = TimeBlock(_time.GetUtcNow(), 0, _time.GetUtcNow()) };
        await Write(context, "upload", 200, body.ToJsonString(), "application/json", null);
    }

    // EN-docs settings/oauth/auto-renewal.md (REFERENCE §3.3).
    private async Task HandleTokenAsync(HttpContext context)
    {
        const string name = "oauth/token";
        if (await ApplyFaultAsync(context, name))
        {
            return;
        }

        var q = context.Request.Query;
        if (q["client_id"] != _options.ClientId || q["client_secret"] != _options.ClientSecret)
        {
            // SDK ApiLevelErrorHandler: HTTP 401 + invalid_client (the status is not documented officially).
            await WriteError(context, name, 401, "invalid_client", "Invalid client credentials");
            return;
        }

        if (q["grant_type"] != "refresh_token")
        {
            await WriteError(context, name, 400, "invalid_request", "Only grant_type=refresh_token is emulated");
            return;
        }

        var foreign = _tokens.PortalOf(q["refresh_token"].ToString());
        var pair = _tokens.Refresh(q["refresh_token"].ToString());
        if (pair is null)
        {
            // SDK: HTTP 400 + invalid_grant. A spent (rotated) refresh token lands here.
            await WriteError(context, name, 400, "invalid_grant", "Invalid refresh token");
            return;
        }

        lock (State.Sync)
        {
            State.Refreshes++;
        }

        var a = Addresses();
        var body = new JsonObject
        {
            ["access_token"] = pair.AccessToken,
            ["client_endpoint"] = foreign?.ClientEndpoint ?? a.ClientEndpoint,
            ["domain"] = a.OAuthDomain, // The OAuth server's host, not the portal's.
            ["expires"] = pair.Expires.ToUnixTimeSeconds(),
            ["expires_in"] = (long)_options.AccessTokenLifetime.TotalSeconds,
            ["member_id"] = foreign?.MemberId ?? _options.MemberId,
            ["refresh_token"] = pair.RefreshToken,
            ["scope"] = _options.Scope,
            ["server_endpoint"] = a.ServerEndpoint,
            ["status"] = _options.AppStatus,
            ["user_id"] = pair.UserId,
        };
        await Write(context, name, 200, body.ToJsonString(), "application/json", null);
    }

    private static async Task<FormNode?> ReadParamsAsync(HttpContext context)
    {
        var sb = new StringBuilder(context.Request.QueryString.HasValue ? context.Request.QueryString.Value![1..] : "");
        var type = context.Request.ContentType ?? "";
        if (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var doc = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    return null;
                }

                // JSON is folded into the same PHP-array tree a form body makes: that is how the portal sees it.
                sb.Append('&').Append(HttpBuildQuery.Encode(ToPhp(doc.RootElement) as List<KeyValuePair<string, object?>> ?? []));
            }
            catch (JsonException)
            {
                return null;
            }
        }
        else if (type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            sb.Append('&').Append(await reader.ReadToEndAsync(context.RequestAborted));
        }
        else if (type.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase) && !context.Request.Path.Value!.Contains("upload", StringComparison.OrdinalIgnoreCase))
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            sb.Append('&').Append(HttpBuildQuery.Encode(form.SelectMany(f => f.Value.Select(v => new KeyValuePair<string, object?>(f.Key, v)))));
        }

        var parsed = PhpFormParser.Parse(sb.ToString().TrimStart('&'), RequestLimits);
        return parsed.Root;
    }

    private static object? ToPhp(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, ToPhp(p.Value))).ToList(),
        JsonValueKind.Array => e.EnumerateArray().Select(ToPhp).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private Task WriteError(HttpContext context, string method, int status, string error, string description, string? callId = null) =>
        Write(context, method, status, new JsonObject { ["error"] = error, ["error_description"] = description }.ToJsonString(), "application/json", error, callId);

    private async Task Write(HttpContext context, string method, int status, string body, string contentType, string? error, string? callId = null)
    {
        var after = context.Items.TryGetValue(AfterApplyFault, out var kind) ? (FaultKind?)kind : null;
        State.Record(new RequestLogEntry(method, _time.GetUtcNow(), status, error) { CallId = callId, Fault = after });
        if (after == FaultKind.ApplyThenDrop)
        {
            // The work is done and logged; the answer is lost on the way back.
            context.Abort();
            return;
        }

        if (after == FaultKind.ApplyThenDelay)
        {
            // A stop does not wait for a held answer: it is lost, as when the portal goes away mid-request.
            var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            using var held = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
            try
            {
                await Task.Delay(Faults.Delay, held.Token);
            }
            catch (OperationCanceledException) when (held.IsCancellationRequested)
            {
                // The client gave up (or was killed) while waiting, or the emulator is stopping; the work stays done.
                context.Abort();
                return;
            }
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = contentType + "; charset=utf-8";
        await context.Response.WriteAsync(body, context.RequestAborted);
    }
}

/// <summary>A click-to-call as a CRM user makes it (REFERENCE §5.1).</summary>
public sealed record ClickToCall
{
    /// <summary>The Bitrix24 user who clicked.</summary>
    public long UserId { get; init; } = 2;
    /// <summary>The number clicked.</summary>
    public string PhoneNumber { get; init; } = "+14155551234";
    /// <summary>The external line requested (the NUMBER given to externalLine.add), may be empty.</summary>
    public string LineNumber { get; init; } = "";
    /// <summary>CONTACT, COMPANY or LEAD.</summary>
    public string? CrmEntityType { get; init; } = "CONTACT";
    /// <summary>The CRM entity.</summary>
    public long? CrmEntityId { get; init; } = 797;
    /// <summary>Call list, 0 when none.</summary>
    public long CallListId { get; init; }
    /// <summary>From the mobile app.</summary>
    public bool IsMobile { get; init; }
}

internal sealed record FaultRequest(FaultKind? Kind, int? Count, bool? Outage, string? Method);
internal sealed record InstallRequest(string Url);
internal sealed record CallEventRequest(string CallId, long? UserId, string? FailedCode, int? Duration);
internal sealed record UpdateRequest(string Version, string? ApplicationToken = null);
internal sealed record UninstallRequest(bool Clean);
internal sealed record GenericEventRequest(string Event, Dictionary<string, string>? Data, long? UserId);
