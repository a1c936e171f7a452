using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Switchboard.Bitrix24.Limits;
using Switchboard.Bitrix24.OAuth;

namespace Switchboard.Bitrix24.Rest;

/// <summary>
/// Calls Bitrix24 REST methods for installed portals: <c>POST &lt;client_endpoint&gt;&lt;method&gt;</c> with a
/// JSON body carrying <c>auth</c> (as the official SDK does, REFERENCE §4.1). Per call it waits for the
/// portal's leaky bucket and the method's operating-time budget, refreshes the token once on
/// <c>expired_token</c>, follows one 302 from a renamed portal, and retries transient failures with
/// jittered exponential back-off. Every expected failure comes back as a <see cref="RestError"/>.
/// </summary>
/// <remarks>Use one instance per process (it holds the per-portal limiters and refresh gates), over an
/// <see cref="HttpClient"/> from <see cref="Bitrix24HttpClientFactory"/>.</remarks>
public sealed class Bitrix24RestClient
{
    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    private readonly HttpClient _http;
    private readonly IPortalCredentials _portals;
    private readonly Bitrix24RestOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly PortalRateLimiter _limiter;
    private readonly OperatingBudget _operating;
    private readonly TokenRefresher _refresher;

    /// <summary>A client over <paramref name="http"/> (build it with <see cref="Bitrix24HttpClientFactory"/>).</summary>
    /// <param name="http">Built by <see cref="Bitrix24HttpClientFactory"/>.</param>
    /// <param name="portals">Where the endpoints and tokens are.</param>
    /// <param name="options">Limits, retries, OAuth.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">Logs without secrets.</param>
    /// <param name="sharedGate">When several processes call the same portals, their shared bucket.</param>
    public Bitrix24RestClient(HttpClient http, IPortalCredentials portals, Bitrix24RestOptions options,
        TimeProvider? time = null, ILogger<Bitrix24RestClient>? logger = null, IPortalRateGate? sharedGate = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(portals);
        ArgumentNullException.ThrowIfNull(options);
        if (options.RequestsPerSecond <= 0 || options.Burst < 1 || options.MaxAttempts < 1)
        {
            throw new ArgumentException("RequestsPerSecond must be > 0, Burst and MaxAttempts >= 1.", nameof(options));
        }

        _http = http;
        _portals = portals;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        // The bucket is counted here when a request leaves and at the portal when it arrives; requests
        // that leave spaced out can arrive bunched (a slow connect, a retransmit). A few requests of the
        // burst are left unused so that bunching never tips the portal's counter over.
        _limiter = new PortalRateLimiter(new RateLimit(options.RequestsPerSecond, options.Burst), _time, options.BurstHeadroom, sharedGate);
        _operating = new OperatingBudget(_time);
        _refresher = new TokenRefresher(new OAuthTokenClient(http, options, _time), portals, _logger);
    }

    /// <summary>Calls <paramref name="method"/> with <paramref name="parameters"/> (the client adds <c>auth</c>).</summary>
    public Task<RestResult<RestResponse>> CallAsync(string memberId, string method, JsonObject? parameters = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentException.ThrowIfNullOrEmpty(method);
        if (parameters?.ContainsKey("auth") == true)
        {
            throw new ArgumentException("The client adds auth itself; do not pass it.", nameof(parameters));
        }

        var json = (parameters ?? []).ToJsonString();
        return ExecuteAsync(memberId, method, creds => BuildCall(creds, method, json), portalCall: true, cancellationToken);
    }

    /// <summary>
    /// Calls <paramref name="method"/> once at <paramref name="clientEndpoint"/> with
    /// <paramref name="accessToken"/>, not with the portal's stored tokens: the way to ask a portal
    /// whether an access token someone presents is its own (a token-changing ONAPPINSTALL or ONAPPUPDATE,
    /// REFERENCE.md §2.1 "first checking the access_token with a REST call"). Nothing is refreshed or
    /// stored; the portal's rate limit applies as to any other call.
    /// </summary>
    public Task<RestResult<RestResponse>> CallWithTokenAsync(string memberId, Uri clientEndpoint, string accessToken, string method,
        JsonObject? parameters = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(memberId);
        ArgumentNullException.ThrowIfNull(clientEndpoint);
        ArgumentException.ThrowIfNullOrEmpty(accessToken);
        ArgumentException.ThrowIfNullOrEmpty(method);
        var json = (parameters ?? []).ToJsonString();
        var presented = new PortalCredentials(memberId, clientEndpoint, accessToken, RefreshToken: string.Empty);
        return ExecuteAsync(memberId, method, creds => BuildCall(creds, method, json), portalCall: true, cancellationToken, presented);
    }

    /// <summary>Calls <paramref name="method"/> and deserialises <c>result</c> to <typeparamref name="T"/>.</summary>
    public async Task<RestResult<T>> CallAsync<T>(string memberId, string method, JsonObject? parameters = null,
        CancellationToken cancellationToken = default)
    {
        var r = await CallAsync(memberId, method, parameters, cancellationToken).ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            return RestResult<T>.Failure(r.Error, r.Attempts);
        }

        try
        {
            return r.Value.ResultAs<T>() is { } value
                ? RestResult<T>.Success(value, r.Attempts)
                : RestResult<T>.Failure(new RestError(RestErrorKind.InvalidResponse, "NULL_RESULT", $"{method} returned a null result", 200), r.Attempts);
        }
        catch (JsonException e)
        {
            return RestResult<T>.Failure(new RestError(RestErrorKind.InvalidResponse, "RESULT_SHAPE", $"{method}: {e.Message}", 200), r.Attempts);
        }
    }

    /// <summary>
    /// Runs <paramref name="commands"/> through <c>batch</c>, split into requests of at most
    /// <see cref="BatchResult.MaxCommandsPerRequest"/> (more fail with ERROR_BATCH_LENGTH_EXCEEDED). One batch
    /// request counts once against the rate limit; each command counts against its method's operating time.
    /// With <paramref name="halt"/>, a request whose commands met an error stops the rest. Note that
    /// <c>$result[id]</c> references only work within one request of 50.
    /// </summary>
    public async Task<RestResult<BatchResult>> BatchAsync(string memberId, IReadOnlyList<BatchCommand> commands, bool halt = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(commands);
        if (commands.Select(c => c.Id).Distinct(StringComparer.Ordinal).Count() != commands.Count)
        {
            throw new ArgumentException("Batch command ids must be unique.", nameof(commands));
        }

        var done = new Dictionary<string, BatchCommandResult>(StringComparer.Ordinal);
        var requests = 0;
        var attempts = 0;
        var chunks = commands.Chunk(BatchResult.MaxCommandsPerRequest).ToList();
        for (var i = 0; i < chunks.Count; i++)
        {
            var chunk = chunks[i];
            var cmd = new JsonObject();
            foreach (var c in chunk)
            {
                cmd[c.Id] = c.Encode();
            }

            var r = await CallAsync(memberId, "batch", new JsonObject { ["halt"] = halt ? 1 : 0, ["cmd"] = cmd }, cancellationToken).ConfigureAwait(false);
            requests++;
            attempts += r.Attempts;
            if (!r.IsSuccess)
            {
                if (done.Count == 0)
                {
                    return RestResult<BatchResult>.Failure(r.Error, attempts);
                }

                return RestResult<BatchResult>.Success(new BatchResult(done, NotRun(chunks, i), r.Error, requests), attempts);
            }

            var anyError = false;
            foreach (var c in BatchResult.Read(chunk, r.Value.Result))
            {
                done[c.Id] = c;
                anyError |= c.Error is not null;
            }

            if (halt && anyError)
            {
                var skipped = chunk.Where(c => !done.ContainsKey(c.Id)).Select(c => c.Id).Concat(NotRun(chunks, i + 1));
                return RestResult<BatchResult>.Success(new BatchResult(done, [.. skipped], null, requests), attempts);
            }
        }

        return RestResult<BatchResult>.Success(new BatchResult(done, [], null, requests), attempts);

        static List<string> NotRun(List<BatchCommand[]> chunks, int from) => [.. chunks.Skip(from).SelectMany(c => c).Select(c => c.Id)];
    }

    /// <summary>POSTs a file as <c>multipart/form-data</c> to an upload URL the portal handed out (e.g. by
    /// <c>telephony.externalCall.attachRecord</c> without <c>FILE_CONTENT</c>). The URL must be on the
    /// portal's own host: it is portal-supplied text, and nothing is sent anywhere else.</summary>
    internal async Task<RestResult<RestResponse>> UploadAsync(string memberId, Uri uploadUrl, string fieldName, string fileName,
        ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        return await ExecuteAsync(memberId, "upload", creds =>
        {
            if (!uploadUrl.IsAbsoluteUri || !string.Equals(uploadUrl.Host, creds.ClientEndpoint.Host, StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            var form = new MultipartFormDataContent();
            var file = new ReadOnlyMemoryContent(content);
            file.Headers.ContentType = new MediaTypeHeaderValue(fileName.EndsWith(".wav", StringComparison.OrdinalIgnoreCase) ? "audio/wav" : "audio/mpeg");
            form.Add(file, fieldName, fileName);
            return Request(HttpMethod.Post, uploadUrl, form);
        }, portalCall: false, cancellationToken).ConfigureAwait(false);
    }

    private HttpRequestMessage BuildCall(PortalCredentials creds, string method, string parametersJson)
    {
        // auth first, then the caller's parameters, written without re-parsing the caller's object per attempt.
        var body = new StringBuilder(parametersJson.Length + creds.AccessToken.Length + 16);
        body.Append("{\"auth\":").Append(JsonSerializer.Serialize(creds.AccessToken));
        if (parametersJson.Length > 2)
        {
            body.Append(',').Append(parametersJson, 1, parametersJson.Length - 1);
        }
        else
        {
            body.Append('}');
        }

        var content = new StringContent(body.ToString(), Encoding.UTF8);
        content.Headers.ContentType = Json;
        return Request(HttpMethod.Post, new Uri(creds.ClientEndpoint, method), content);
    }

    private HttpRequestMessage Request(HttpMethod verb, Uri uri, HttpContent content)
    {
        var request = new HttpRequestMessage(verb, uri) { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.UserAgent.ParseAdd(_options.UserAgent);
        return request;
    }

    private bool SchemeAllowed(Uri uri) =>
        uri.Scheme == Uri.UriSchemeHttps || (_options.AllowInsecureHttp && uri.Scheme == Uri.UriSchemeHttp);

    private async Task<RestResult<RestResponse>> ExecuteAsync(string memberId, string method,
        Func<PortalCredentials, HttpRequestMessage?> build, bool portalCall, CancellationToken cancellationToken, PortalCredentials? presented = null)
    {
        var creds = presented ?? await _portals.GetAsync(memberId, cancellationToken).ConfigureAwait(false);
        if (creds is null)
        {
            return Fail(new RestError(RestErrorKind.PortalUnknown, "PORTAL_UNKNOWN", "no stored credentials for this portal", null), 0);
        }

        if (creds.NeedsReauthorisation)
        {
            return Fail(new RestError(RestErrorKind.NeedsReauthorisation, "NEEDS_REAUTHORISATION", "the portal must be authorised again", null), 0);
        }

        int attempts = 0, failures = 0;
        bool redirected = false, refreshed = false;
        Uri? movedTo = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_operating.PausedUntil(memberId, method) is { } paused)
            {
                var wait = paused - _time.GetUtcNow();
                if (wait > _options.MaxOperatingPause)
                {
                    return Fail(new RestError(RestErrorKind.OperationTimeLimit, "OPERATION_TIME_LIMIT",
                        "the method's operating-time budget is spent", null) { RetryAt = paused }, attempts, method, memberId);
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                }
            }

            using var request = build(creds);
            if (request is null)
            {
                return Fail(new RestError(RestErrorKind.DestinationRefused, "DESTINATION_REFUSED",
                    "the upload URL is not on the portal's host", null), attempts, method, memberId);
            }

            if (!SchemeAllowed(request.RequestUri!))
            {
                return Fail(new RestError(RestErrorKind.DestinationRefused, "INSECURE_ENDPOINT",
                    $"refused {request.RequestUri!.Scheme}:// (only https is allowed)", null), attempts, method, memberId);
            }

            await _limiter.WaitAsync(memberId, creds.RateLimit, cancellationToken).ConfigureAwait(false);

            attempts++;
            var outcome = await SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (outcome.Response is { } ok)
            {
                _operating.Record(memberId, method, ok.Time);
                if (movedTo is not null && presented is null)
                {
                    // Stored only now that the portal answered there: a redirect to an address the
                    // guard refuses, or to nothing at all, never replaces the portal's endpoint.
                    await _portals.RecordEndpointChangeAsync(memberId, movedTo, cancellationToken).ConfigureAwait(false);
                    RestLog.EndpointChanged(_logger, memberId, movedTo.GetLeftPart(UriPartial.Path));
                }

                return RestResult<RestResponse>.Success(ok, attempts);
            }

            var error = outcome.Error!;
            if (outcome.Location is { } location)
            {
                if (!portalCall || redirected)
                {
                    return Fail(error with { Description = "redirected again after following one redirect" }, attempts, method, memberId);
                }

                // EN-docs settings/how-to-call-rest-api/change-domen.md: a renamed portal's old address answers
                // 302; do not let the HTTP stack follow it (POST may turn into GET and lose its body), take the
                // new address from Location and repeat the POST there.
                var endpoint = NewEndpoint(creds.ClientEndpoint, location, method);
                if (!SchemeAllowed(endpoint))
                {
                    return Fail(new RestError(RestErrorKind.DestinationRefused, "INSECURE_ENDPOINT",
                        "the portal redirected to a non-https address", 302), attempts, method, memberId);
                }

                movedTo = endpoint;
                creds = creds with { ClientEndpoint = endpoint };
                redirected = true;
                continue;
            }

            if (error.Kind == RestErrorKind.ExpiredToken && portalCall && !refreshed && presented is null)
            {
                // EN-docs settings/oauth/auto-renewal.md: call → 401 expired_token → refresh → save → repeat.
                // Never on a timer, never before every call.
                var renewed = await _refresher.RefreshAsync(memberId, creds.AccessToken, cancellationToken).ConfigureAwait(false);
                if (renewed.IsSuccess)
                {
                    creds = renewed.Value;
                    refreshed = true;
                    continue;
                }

                error = renewed.Error;
            }

            if (!error.IsTransient)
            {
                return Fail(error, attempts, method, memberId);
            }

            failures++;
            if (failures >= _options.MaxAttempts)
            {
                return Fail(error, attempts, method, memberId);
            }

            if (error.Kind == RestErrorKind.OperationTimeLimit)
            {
                var until = _operating.Pause(memberId, method, outcome.Time, _options.DefaultOperatingPause);
                RestLog.MethodPaused(_logger, method, memberId, until);
                continue; // the top of the loop waits for the reset, or reports it when it is too far away
            }

            var delay = Backoff.Delay(failures, _options.BaseDelay, _options.MaxDelay);
            RestLog.Retrying(_logger, method, memberId, error.Code, failures, _options.MaxAttempts, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private RestResult<RestResponse> Fail(RestError error, int attempts, string? method = null, string? memberId = null)
    {
        if (method is not null && memberId is not null)
        {
            RestLog.Failed(_logger, method, memberId, error.Code, error.HttpStatus, attempts);
        }

        return RestResult<RestResponse>.Failure(error, attempts);
    }

    internal static Uri NewEndpoint(Uri oldEndpoint, Uri location, string method)
    {
        var path = location.AbsolutePath;
        var endpointPath = path.EndsWith(method, StringComparison.OrdinalIgnoreCase) ? path[..^method.Length]
            : path.EndsWith(method + ".json", StringComparison.OrdinalIgnoreCase) ? path[..^(method.Length + 5)]
            : oldEndpoint.AbsolutePath;
        if (!endpointPath.EndsWith('/'))
        {
            endpointPath += "/";
        }

        return new UriBuilder(location.Scheme, location.Host, location.Port, endpointPath).Uri;
    }

    private sealed record Outcome(RestResponse? Response, RestError? Error, Uri? Location = null, RestTime? Time = null);

    private async Task<Outcome> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.AttemptTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308)
            {
                return response.Headers.Location is { } loc
                    ? new Outcome(null, new RestError(RestErrorKind.InvalidResponse, "REDIRECT", "the portal redirected", status),
                        loc.IsAbsoluteUri ? loc : new Uri(request.RequestUri!, loc))
                    : new Outcome(null, new RestError(RestErrorKind.InvalidResponse, "REDIRECT", "a redirect without Location", status));
            }

            var body = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            return Classify(status, body);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Outcome(null, new RestError(RestErrorKind.Timeout, "TIMEOUT",
                $"no answer within {_options.AttemptTimeout.TotalSeconds:0.###} s", null));
        }
        catch (HttpRequestException e) when (e.InnerException is DestinationRefusedException refused)
        {
            return new Outcome(null, new RestError(RestErrorKind.DestinationRefused, "DESTINATION_REFUSED", refused.Message, null));
        }
        catch (HttpRequestException e)
        {
            return new Outcome(null, new RestError(RestErrorKind.ConnectionFailed, "CONNECTION_FAILED", e.HttpRequestError.ToString(), null));
        }
        catch (IOException)
        {
            return new Outcome(null, new RestError(RestErrorKind.ConnectionFailed, "CONNECTION_FAILED", "the connection was lost", null));
        }
    }

    internal static RestResponse? ReadEnvelope(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("result", out var result)
            ? new RestResponse(result.Clone(), JsonRead.Long(root, "total"), JsonRead.Long(root, "next"), RestTime.Read(root))
            : null;

    private static Outcome Classify(int status, byte[] body)
    {
        JsonElement? root = null;
        try
        {
            if (body.Length > 0)
            {
                using var doc = JsonDocument.Parse(body);
                root = doc.RootElement.Clone();
            }
        }
        catch (JsonException)
        {
            // A proxy's HTML error page, a truncated body: classified by status below.
        }

        if (root is { ValueKind: JsonValueKind.Object } r)
        {
            if (JsonRead.String(r, "error") is { Length: > 0 } code)
            {
                return new Outcome(null, RestError.FromCode(code, JsonRead.String(r, "error_description"), status), Time: RestTime.Read(r));
            }

            if (status is >= 200 and < 300 && ReadEnvelope(r) is { } envelope)
            {
                return new Outcome(envelope, null);
            }
        }

        return status switch
        {
            >= 500 or 429 => new Outcome(null, new RestError(RestErrorKind.ServerError, $"HTTP_{status}", "no Bitrix24 error envelope", status)),
            >= 200 and < 300 => new Outcome(null, new RestError(RestErrorKind.InvalidResponse, "NOT_AN_ENVELOPE", "a 2xx answer without result", status)),
            _ => new Outcome(null, new RestError(RestErrorKind.Other, $"HTTP_{status}", "no Bitrix24 error envelope", status)),
        };
    }
}
