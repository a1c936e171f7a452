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
        app.MapGet("/metrics", (MetricsCollector collector, IJournalStore store, Outbox.StoreClock clock) => Results.Text(collector.Render(store, clock), "text/plain; version=0.0.4; charset=utf-8"));
        return app;
    }

    private static async Task<IResult> ReadyAsync(IJournalStore store, IOptions<JournalOptions> options, Storage.UnreadableTokens unreadable, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.BusyTimeoutSeconds + 2));
        try
        {
            await store.CheckWritableAsync(timeout.Token).ConfigureAwait(false);
            // Still ready: events are received and journaled. A portal whose tokens do not decrypt only
            // waits for its Bitrix24 work, and the answer says which and why.
            var portals = unreadable.MemberIds;
            IReadOnlyList<string>? problems = portals.Count == 0 ? null :
            [
                $"The stored tokens of {portals.Count} portal(s) cannot be decrypted with the key ring in {options.Value.KeyRingPath} (Switchboard:Store:KeyRingDirectory); their Bitrix24 work waits: {string.Join(", ", portals.Order(StringComparer.Ordinal).Take(20))}",
            ];
            return Results.Json(new HealthResponse("ready", options.Value.Describe()) { Problems = problems }, HostingJson.Default.HealthResponse);
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
public sealed record HealthResponse(string Status, string? Store)
{
    /// <summary>What is wrong though the server is ready; absent when nothing is.</summary>
    public IReadOnlyList<string>? Problems { get; init; }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(HealthResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class HostingJson : System.Text.Json.Serialization.JsonSerializerContext;
