using System.Globalization;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.OAuth;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Emulator;

/// <summary>
/// The emulated portal's administrator at the REST API: a <see cref="Bitrix24RestClient"/> with tokens
/// the emulator issued, for the set-up steps a person would do in the portal (bind a handler, register
/// calls in bulk) in tests, benchmarks and scripts. Not Switchboard's own client: it has its own bucket.
/// </summary>
public sealed class EmulatorAdmin : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _memberId;

    internal EmulatorAdmin(PortalEmulator portal)
    {
        var options = new Bitrix24RestOptions
        {
            ClientId = portal.Options.ClientId,
            ClientSecret = portal.Options.ClientSecret,
            OAuthServer = portal.BaseAddress,
            AllowInsecureHttp = true,
        };
        // The emulator listens on loopback; allow exactly that.
        options.AllowedNetworks.Add("127.0.0.0/8");
        options.AllowedNetworks.Add("::1/128");
        var tokens = portal.IssueTokens();
        var credentials = new InMemoryPortalCredentials();
        _memberId = portal.Options.MemberId;
        credentials.Put(new PortalCredentials(_memberId, portal.ClientEndpoint, tokens.AccessToken, tokens.RefreshToken));
        _http = Bitrix24HttpClientFactory.CreateClient(options);
        Client = new Bitrix24RestClient(_http, credentials, options);
    }

    /// <summary>The client; call it with the emulator's member_id.</summary>
    public Bitrix24RestClient Client { get; }

    /// <summary>
    /// Registers <paramref name="count"/> outgoing calls for user 1 in <c>batch</c> requests of 50 and
    /// returns their CALL_IDs, in order.
    /// </summary>
    public async Task<IReadOnlyList<string>> RegisterCallsAsync(int count, CancellationToken cancellationToken = default)
    {
        var commands = Enumerable.Range(0, count).Select(i => new BatchCommand("r" + i.ToString(CultureInfo.InvariantCulture), "telephony.externalCall.register", new JsonObject
        {
            ["USER_ID"] = 1,
            ["PHONE_NUMBER"] = "+1415" + i.ToString("0000000", CultureInfo.InvariantCulture),
            ["TYPE"] = 1,
            ["SHOW"] = 0,
        })).ToList();
        var r = await Client.BatchAsync(_memberId, commands, cancellationToken: cancellationToken);
        if (!r.IsSuccess || r.Value.Commands.Count != count || r.Value.Commands.Values.Any(c => !c.IsSuccess))
        {
            throw new InvalidOperationException("Registering the calls failed: " + (r.Error?.ToString() ?? "some commands failed"));
        }

        return [.. commands.Select(c => r.Value.Commands[c.Id].Result!.Value.GetProperty("CALL_ID").GetString()!)];
    }

    /// <inheritdoc/>
    public void Dispose() => _http.Dispose();
}
