using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Receiving;

/// <summary>What the journal keeps of a body: the body minus its tokens, and the key that makes a redelivery the same event.</summary>
public static class JournalBody
{
    private static readonly HashSet<string> SecretKeys = new(StringComparer.Ordinal)
    {
        "auth[access_token]", "auth[refresh_token]", "auth[application_token]",
    };

    private static readonly string[] SecretAuthFields = ["access_token", "refresh_token", "application_token"];

    /// <summary>
    /// The form body as it arrived, pair for pair, without the three token fields: the journal
    /// keeps Bitrix24's exact bytes (useful when its format changes) but no secret. The parser has
    /// already accepted the body, so every key decodes.
    /// </summary>
    public static string RedactForm(ReadOnlySpan<byte> body)
    {
        var sb = new StringBuilder(body.Length);
        var text = Encoding.UTF8.GetString(body);
        foreach (var pair in text.Split('&'))
        {
            if (pair.Length == 0)
            {
                continue;
            }

            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var rawKey = eq < 0 ? pair : pair[..eq];
            if (SecretKeys.Contains(DecodeKey(rawKey)))
            {
                continue;
            }

            if (sb.Length > 0)
            {
                sb.Append('&');
            }

            sb.Append(pair);
        }

        return sb.ToString();
    }

    /// <summary>The JSON body re-serialised without the token fields of its auth object.</summary>
    public static string RedactJson(ReadOnlySpan<byte> body)
    {
        var node = JsonNode.Parse(body.ToArray())!;
        if (node["auth"] is JsonObject auth)
        {
            foreach (var field in SecretAuthFields)
            {
                auth.Remove(field);
            }
        }

        return node.ToJsonString();
    }

    /// <summary>
    /// Same event, same key: the event name, the portal, <c>ts</c> and the <c>data</c> block,
    /// whatever the auth block (tokens differ between deliveries) and whatever the encoding (form or
    /// JSON, key order). The portal is part of it so two portals' identical events never merge.
    /// </summary>
    public static string DedupKey(Bitrix24Event ev, FormNode root)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(root);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, "v1");
        Append(hash, ev.Name);
        Append(hash, ev.Auth.MemberId ?? string.Empty);
        Append(hash, root.GetString("ts") ?? string.Empty);
        AppendTree(hash, ev.Data);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void AppendTree(IncrementalHash hash, FormNode node)
    {
        if (node.IsValue)
        {
            Append(hash, "=");
            Append(hash, node.Value);
            return;
        }

        Append(hash, "{");
        foreach (var (key, child) in node.Children.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            Append(hash, key);
            AppendTree(hash, child);
        }

        Append(hash, "}");
    }

    // Length-prefixed, so ("ab","c") and ("a","bc") hash differently.
    private static void Append(IncrementalHash hash, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }

    private static string DecodeKey(string rawKey)
    {
        if (!rawKey.Contains('%', StringComparison.Ordinal) && !rawKey.Contains('+', StringComparison.Ordinal))
        {
            return rawKey;
        }

        return Uri.UnescapeDataString(rawKey.Replace('+', ' '));
    }
}
