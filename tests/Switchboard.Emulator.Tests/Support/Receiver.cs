using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Switchboard.Emulator.Tests.Support;

/// <summary>One request the receiver got.</summary>
public sealed record Received(string Path, string? ContentType, byte[] Body);

/// <summary>A tiny Kestrel event handler on loopback that records every POST and answers a chosen status.</summary>
public sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Receiver(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }
    public ConcurrentQueue<Received> Requests { get; } = new();
    public int AnswerStatus { get; set; } = 200;

    private readonly SemaphoreSlim _arrived = new(0);

    /// <summary>Waits (on a signal, not a sleep) until <paramref name="count"/> requests have arrived in total.</summary>
    public async Task WaitForAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (Requests.Count < count)
        {
            await _arrived.WaitAsync(cts.Token);
        }
    }

    public static async Task<Receiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        Receiver? self = null;
        app.MapPost("/{**path}", async (HttpContext ctx) =>
        {
            using var ms = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(ms);
            self!.Requests.Enqueue(new Received(ctx.Request.Path, ctx.Request.ContentType, ms.ToArray()));
            ctx.Response.StatusCode = self.AnswerStatus;
            self._arrived.Release();
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new Receiver(app, new Uri(new Uri(address), "/b24/events"));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _arrived.Dispose();
    }
}
