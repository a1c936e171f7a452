using Switchboard.Asterisk.Wire;

namespace Switchboard.Asterisk.Events;

/// <summary>
/// A channel's snapshot headers as every channel event carries them (main/manager_channels.c,
/// ast_manager_build_channel_state_string_prefix): the same fields, optionally prefixed (<c>Dest</c>,
/// <c>Transferer</c>, <c>Transferee</c>, <c>TransferTarget</c>, <c>OrigTransferer</c>, <c>SecondTransferer</c>,
/// <c>LocalOne</c>, <c>LocalTwo</c>). Asterisk writes an unknown caller id as the literal <c>&lt;unknown&gt;</c>;
/// here it is null.
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
    public static ChannelSnapshot? Read(AmiMessage message, string prefix = "") => throw new NotImplementedException();
}
