using Microsoft.Extensions.Options;
using Switchboard.Journal;

namespace Switchboard.Hosting;

/// <summary><c>/healthz</c> (the process answers), <c>/readyz</c> (the store can commit), <c>/metrics</c> (Prometheus text).</summary>
public static class HealthEndpoints
{
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Json(new HealthResponse("alive", null), HostingJson.Default.HealthResponse));
        app.MapGet("/readyz", ReadyAsync);
        app.MapGet("/metrics", (MetricsCollector collector, IJournalStore store, Outbox.StoreClock clock, Pbx.PbxRegistry pbx) => Results.Text(collector.Render(store, clock, [.. pbx.Connectors.Select(c => c.Status)]), "text/plain; version=0.0.4; charset=utf-8"));
        return app;
    }

    /// <remarks>
    /// A PBX that is unreachable or refuses the login is named in the answer, with the reason, but keeps
    /// it 200: events are still journalled and clicks wait for the PBX (up to their deadline), and a
    /// load balancer that took the only instance out of service for it would lose Bitrix24's events,
    /// which are never sent again. 503 means exactly one thing: events cannot be journalled.
    /// </remarks>
    private static async Task<IResult> ReadyAsync(IJournalStore store, IOptions<JournalOptions> options, Pbx.PbxRegistry pbx, Storage.UnreadableTokens unreadable, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.BusyTimeoutSeconds + 2));
        try
        {
            await store.CheckWritableAsync(timeout.Token).ConfigureAwait(false);
            // Still ready: events are received and journaled. A portal whose tokens do not decrypt only
            // waits for its Bitrix24 work, and the answer says which and why.
            var portals = unreadable.MemberIds;
            List<string> problems = portals.Count == 0 ? [] :
            [
                $"The stored tokens of {portals.Count} portal(s) cannot be decrypted with the key ring in {options.Value.KeyRingPath} (Switchboard:Store:KeyRingDirectory); their Bitrix24 work waits: {string.Join(", ", portals.Order(StringComparer.Ordinal).Take(20))}",
            ];
            problems.AddRange(pbx.Problems());
            return Results.Json(
                new HealthResponse(problems.Count == 0 ? "ready" : "degraded", options.Value.Describe(), problems.Count == 0 ? null : problems),
                HostingJson.Default.HealthResponse);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return Results.Problem(
                title: "Store not writable",
                detail: $"{options.Value.Describe()} cannot commit a write ({ex.GetType().Name}). Events are answered 503 until it can.",
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}

/// <summary>Health answer.</summary>
/// <param name="Status"><c>alive</c>, <c>ready</c>, or <c>degraded</c> (events are journalled, but something named in <paramref name="Problems"/> needs an operator).</param>
/// <param name="Store">Which store, in words.</param>
/// <param name="Problems">What is wrong, in words: a PBX unreachable or refusing the login, portals whose tokens do not decrypt, with the reason.</param>
public sealed record HealthResponse(string Status, string? Store, IReadOnlyList<string>? Problems = null);

[System.Text.Json.Serialization.JsonSerializable(typeof(HealthResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class HostingJson : System.Text.Json.Serialization.JsonSerializerContext;
