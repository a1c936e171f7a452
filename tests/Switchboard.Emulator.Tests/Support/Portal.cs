using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Switchboard.Emulator.Tests.Support;

/// <summary>A started emulator, a token for the admin and an HttpClient that calls it over loopback.</summary>
public sealed class Portal : IAsyncDisposable
{
    private Portal(PortalEmulator emulator, ManualTime time)
    {
        Emulator = emulator;
        Time = time;
        Http = new HttpClient { BaseAddress = emulator.BaseAddress };
        Token = emulator.IssueTokens(1);
    }

    public PortalEmulator Emulator { get; }
    public ManualTime Time { get; }
    public HttpClient Http { get; }
    public TokenPair Token { get; set; }

    public static async Task<Portal> StartAsync(Action<EmulatorOptions>? configure = null)
    {
        var options = new EmulatorOptions();
        configure?.Invoke(options);
        var time = new ManualTime();
        var emulator = new PortalEmulator(options, time);
        await emulator.StartAsync();
        return new Portal(emulator, time);
    }

    /// <summary>POSTs a JSON body with <c>auth</c> inside, the way the official SDK calls REST.</summary>
    public async Task<Reply> CallAsync(string method, object? parameters = null, string? token = null)
    {
        var body = JsonSerializer.SerializeToNode(parameters ?? new { })!.AsObject();
        body["auth"] = token ?? Token.AccessToken;
        using var response = await Http.PostAsJsonAsync($"rest/{method}", body);
        return await Reply.ReadAsync(response);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Emulator.DisposeAsync();
    }
}

/// <summary>Status and parsed JSON of one answer.</summary>
public sealed record Reply(HttpStatusCode Status, JsonElement Json, string Text)
{
    public static async Task<Reply> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var json = text.StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return new Reply(response.StatusCode, json, text);
    }

    public JsonElement Result => Json.GetProperty("result");
    public string? Error => Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty("error", out var e) ? e.GetString() : null;
    public string? Description => Json.GetProperty("error_description").GetString();
}
