using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Switchboard.Bitrix24.Tests.Rest;

/// <summary>A request the fake portal received.</summary>
public sealed record FakeRequest(string Verb, string Path, IQueryCollection Query, IHeaderDictionary Headers, JsonObject? Json,
    IFormCollection? Form, TimeSpan At)
{
    public string? Auth => Json?["auth"]?.GetValue<string>();
}

/// <summary>What the fake portal answers.</summary>
public sealed record FakeReply(int Status, string? Body = null, string? Location = null, bool Abort = false, bool Hang = false)
{
    public static FakeReply Ok(JsonNode? result, string? extra = null) =>
        new(200, $"{{\"result\":{result?.ToJsonString() ?? "null"}{(extra is null ? "" : "," + extra)}}}");

    public static FakeReply Error(int status, string code, string description = "") =>
        new(status, new JsonObject { ["error"] = code, ["error_description"] = description }.ToJsonString());

    public static FakeReply Reset() => new(0, Abort: true);

    public static FakeReply Stall() => new(0, Hang: true);

    public static FakeReply Redirect(string location) => new(302, "", location);
}

/// <summary>
/// Kestrel on 127.0.0.1:0 playing a Bitrix24 portal and the OAuth server. Only routes a test set up are
/// answered; anything else gets a 500 and is recorded in <see cref="Unexpected"/>, which fails the test
/// at <see cref="DisposeAsync"/>.
/// </summary>
public sealed class FakeBitrix24 : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Func<FakeRequest, Task<FakeReply>>> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private WebApplication _app = null!;

    public ConcurrentQueue<string> Unexpected { get; } = new();
    public ConcurrentQueue<FakeRequest> Requests { get; } = new();
    public Uri BaseUri { get; private set; } = null!;
    public Uri RestEndpoint => new(BaseUri, "rest/");
    public int Port => BaseUri.Port;

    public IEnumerable<FakeRequest> To(string path) => Requests.Where(r => string.Equals(r.Path, path, StringComparison.OrdinalIgnoreCase));

    public static async Task<FakeBitrix24> StartAsync()
    {
        var fake = new FakeBitrix24();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        fake._app = builder.Build();
        fake._app.Run(fake.HandleAsync);
        await fake._app.StartAsync();
        var address = fake._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.BaseUri = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal) + "/");
        return fake;
    }

    public void On(string path, Func<FakeRequest, FakeReply> handler) => _routes[path] = r => Task.FromResult(handler(r));

    public void OnAsync(string path, Func<FakeRequest, Task<FakeReply>> handler) => _routes[path] = handler;

    private async Task HandleAsync(HttpContext ctx)
    {
        JsonObject? json = null;
        IFormCollection? form = null;
        if (ctx.Request.HasFormContentType)
        {
            form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
        }
        else
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(ctx.RequestAborted);
            if (text.Length > 0)
            {
                try
                {
                    json = JsonNode.Parse(text) as JsonObject;
                }
                catch (System.Text.Json.JsonException)
                {
                    Unexpected.Enqueue($"{ctx.Request.Method} {ctx.Request.Path}: body is not JSON");
                }
            }
        }

        // Copies: Kestrel reuses the request's header and query objects once the request ends.
        var headers = new HeaderDictionary(ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase));
        var query = new QueryCollection(ctx.Request.Query.ToDictionary(q => q.Key, q => q.Value));
        var request = new FakeRequest(ctx.Request.Method, ctx.Request.Path.Value ?? "", query, headers, json, form, _clock.Elapsed);
        Requests.Enqueue(request);
        if (!_routes.TryGetValue(request.Path, out var handler))
        {
            Unexpected.Enqueue($"{request.Verb} {request.Path}");
            ctx.Response.StatusCode = 500;
            await ctx.Response.WriteAsync("{\"error\":\"UNEXPECTED_REQUEST\"}");
            return;
        }

        FakeReply reply;
        try
        {
            reply = await handler(request);
        }
        catch (Exception e)
        {
            Unexpected.Enqueue($"{request.Verb} {request.Path}: handler threw {e.GetType().Name}: {e.Message}");
            ctx.Response.StatusCode = 500;
            return;
        }

        if (reply.Abort)
        {
            ctx.Abort();
            return;
        }

        if (reply.Hang)
        {
            // Held until the client gives up: wait on the abort signal itself.
            var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using (ctx.RequestAborted.Register(() => aborted.TrySetResult()))
            {
                await aborted.Task;
            }

            return;
        }

        ctx.Response.StatusCode = reply.Status;
        if (reply.Location is not null)
        {
            ctx.Response.Headers.Location = reply.Location;
        }

        if (reply.Body is not null)
        {
            ctx.Response.ContentType = "application/json; charset=utf-8";
            await ctx.Response.WriteAsync(reply.Body);
        }
    }

    public TimeSpan Now => _clock.Elapsed;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Unexpected.Should().BeEmpty("the fake portal fails on any request a test did not set up");
    }
}
