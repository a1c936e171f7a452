using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Events;

/// <summary>
/// A channel's snapshot headers as every channel event carries them (main/manager_channels.c,
/// ast_manager_build_channel_state_string_prefix): the same fields, optionally prefixed (<c>Dest</c>,
/// <c>Transferer</c>, <c>Transferee</c>, <c>TransferTarget</c>, <c>OrigTransferer</c>, <c>SecondTransferer</c>,
/// <c>LocalOne</c>, <c>LocalTwo</c>). Asterisk writes an unknown caller id as the literal <c>&lt;unknown&gt;</c>;
/// here it is null, as is an empty field (<c>AccountCode: </c>, <c>Exten: </c>). A missing <c>Linkedid</c>
/// (a VarSet of a global variable has only <c>Channel: none</c> and <c>Uniqueid: none</c>) reads as the
/// <c>Uniqueid</c>, the value Asterisk gives a channel with no requestor.
/// </summary>
public sealed record ChannelSnapshot(
    string Channel,
    int ChannelState,
    string? ChannelStateDesc,
    string? CallerIdNum,
    string? CallerIdName,
    string? ConnectedLineNum,
    string? ConnectedLineName,
    string? AccountCode,
    string? Context,
    string? Exten,
    int? Priority,
    string Uniqueid,
    string Linkedid)
{
    /// <summary>ChannelState 6: the channel is answered (channel.c, ast_state2str).</summary>
    public bool IsUp => ChannelState == 6;

    /// <summary>The snapshot under <paramref name="prefix"/>, or null when the message has no <c>{prefix}Channel</c> and <c>{prefix}Uniqueid</c>.</summary>
    public static ChannelSnapshot? Read(AmiMessage message, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(prefix);
        var channel = message[prefix + "Channel"];
        var uniqueid = message[prefix + "Uniqueid"];
        if (string.IsNullOrEmpty(channel) || string.IsNullOrEmpty(uniqueid))
        {
            return null;
        }

        return new(
            channel,
            AmiFields.Int(message[prefix + "ChannelState"]) ?? 0,
            AmiFields.Text(message[prefix + "ChannelStateDesc"]),
            CallerId(message[prefix + "CallerIDNum"]),
            CallerId(message[prefix + "CallerIDName"]),
            CallerId(message[prefix + "ConnectedLineNum"]),
            CallerId(message[prefix + "ConnectedLineName"]),
            AmiFields.Text(message[prefix + "AccountCode"]),
            AmiFields.Text(message[prefix + "Context"]),
            AmiFields.Text(message[prefix + "Exten"]),
            AmiFields.Int(message[prefix + "Priority"]),
            uniqueid,
            AmiFields.Text(message[prefix + "Linkedid"]) ?? uniqueid);
    }

    private static string? CallerId(string? value) => AmiFields.Known(value);
}
