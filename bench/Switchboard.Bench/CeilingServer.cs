using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Switchboard.Bench;

/// <summary>
/// The ceiling: Kestrel with one endpoint that reads the form and answers 200. No verification, no
/// storage, so whatever Switchboard loses against it is the cost of its own work.
/// </summary>
internal static class CeilingServer
{
    /// <summary>Written to stdout, followed by the bound addresses, once Kestrel is listening.</summary>
    public const string ReadyMarker = "ceiling-ready";

    public static async Task<int> RunAsync(IReadOnlyList<Uri> urls, bool stopOnStdinEof, CancellationToken ct)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        foreach (var url in urls)
        {
            app.Urls.Add(url.GetLeftPart(UriPartial.Authority));
        }

        app.MapPost("/bitrix24/events", static async (HttpRequest request, CancellationToken requestAborted) =>
        {
            await request.ReadFormAsync(requestAborted).ConfigureAwait(false);
            return Results.Ok();
        });

        await app.StartAsync(ct).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        await Console.Out.WriteLineAsync($"{ReadyMarker} {string.Join(' ', addresses)}").ConfigureAwait(false);
        await Console.Out.FlushAsync(ct).ConfigureAwait(false);

        if (stopOnStdinEof)
        {
            // Started by `compare`: when the parent closes our stdin, or dies, we stop too. Reading
            // stdin blocks, so it gets its own thread: parked on the thread pool it would take one
            // of the two threads a 2-core machine starts with and skew the very number we measure.
            var watcher = new Thread(() =>
            {
                using var stdin = Console.OpenStandardInput();
                stdin.CopyTo(Stream.Null);
                app.Lifetime.StopApplication();
            })
            {
                IsBackground = true,
                Name = "stdin watcher",
            };
            watcher.Start();
        }

        await app.WaitForShutdownAsync(ct).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        return 0;
    }
}
