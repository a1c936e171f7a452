using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Rest;

namespace Switchboard.Bitrix24.Telephony;

/// <summary>
/// Typed <c>telephony.externalCall.*</c> and <c>telephony.externalLine.*</c> (REFERENCE §6). All of them
/// work only with application (OAuth) auth; through a webhook they answer <c>WRONG_AUTH_TYPE</c>.
/// Bitrix24 field names appear here and nowhere else.
/// </summary>
public sealed class TelephonyClient(Bitrix24RestClient rest)
{
    /// <summary><c>telephony.externalCall.register</c>.</summary>
    public async Task<RestResult<RegisteredCall>> RegisterAsync(string memberId, RegisterCallRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ExternalCallId, nameof(request));
        ArgumentException.ThrowIfNullOrWhiteSpace(request.PhoneNumber, nameof(request));
        RequireUser(request.UserId, request.UserPhoneInner);
        var p = new JsonObject { ["EXTERNAL_CALL_ID"] = request.ExternalCallId, ["PHONE_NUMBER"] = request.PhoneNumber, ["TYPE"] = (int)request.Type };
        Set(p, "USER_ID", request.UserId);
        Set(p, "USER_PHONE_INNER", request.UserPhoneInner);
        Set(p, "CALL_START_DATE", request.CallStartDate is { } d ? Iso8601(d) : null);
        Set(p, "CRM_CREATE", Flag(request.CrmCreate));
        Set(p, "CRM_SOURCE", request.CrmSource);
        Set(p, "CRM_ENTITY_TYPE", request.CrmEntityType?.Code);
        Set(p, "CRM_ENTITY_ID", request.CrmEntityId);
        Set(p, "SHOW", Flag(request.Show));
        Set(p, "ADD_TO_CHAT", Flag(request.AddToChat));
        Set(p, "CALL_LIST_ID", request.CallListId);
        Set(p, "LINE_NUMBER", request.LineNumber);
        var r = await rest.CallAsync(memberId, "telephony.externalCall.register", p, cancellationToken).ConfigureAwait(false);
        if (!r.IsSuccess)
        {
            return RestResult<RegisteredCall>.Failure(r.Error, r.Attempts);
        }

        var x = r.Value.Result;
        if (JsonRead.String(x, "CALL_ID") is not { Length: > 0 } callId)
        {
            return RestResult<RegisteredCall>.Failure(new RestError(RestErrorKind.InvalidResponse, "NO_CALL_ID", "register answered without CALL_ID", 200), r.Attempts);
        }

        var created = JsonRead.Items(JsonRead.Prop(x, "CRM_CREATED_ENTITIES"))
            .Select(e => new CrmEntityRef(CrmEntityType.From(JsonRead.String(e, "ENTITY_TYPE")), JsonRead.Long(e, "ENTITY_ID")))
            .ToList();
        return RestResult<RegisteredCall>.Success(new RegisteredCall(callId, JsonRead.Long(x, "CRM_CREATED_LEAD"), created,
            CrmEntityType.From(JsonRead.String(x, "CRM_ENTITY_TYPE")), JsonRead.Long(x, "CRM_ENTITY_ID"),
            JsonRead.String(x, "LEAD_CREATION_ERROR") is { Length: > 0 } le ? le : null), r.Attempts);
    }

    /// <summary><c>telephony.externalCall.finish</c>.</summary>
    public async Task<RestResult<FinishedCall>> FinishAsync(string memberId, FinishCallRequest request, CancellationToken cancellationToken = default)
    {
        var p = FinishParameters(request);
        var r = await rest.CallAsync(memberId, FinishMethod, p, cancellationToken).ConfigureAwait(false);
        return r.Map(v => new FinishedCall(JsonRead.Long(v.Result, "ID"), JsonRead.String(v.Result, "CALL_ID"),
            JsonRead.String(v.Result, "EXTERNAL_CALL_ID"), CallStatusCode.From(JsonRead.String(v.Result, "CALL_FAILED_CODE")),
            JsonRead.Long(v.Result, "CRM_ACTIVITY_ID"), v.Result));
    }

    /// <summary>The method name of <see cref="FinishAsync"/>, for a <see cref="BatchCommand"/>.</summary>
    public const string FinishMethod = "telephony.externalCall.finish";

    /// <summary>The method name of <see cref="ShowAsync"/>, for a <see cref="BatchCommand"/>.</summary>
    public const string ShowMethod = "telephony.externalCall.show";

    /// <summary>The method name of <see cref="HideAsync"/>, for a <see cref="BatchCommand"/>.</summary>
    public const string HideMethod = "telephony.externalCall.hide";

    /// <summary>The parameters <see cref="FinishAsync"/> sends, for sending the finish inside a batch.</summary>
    public static JsonObject FinishParameters(FinishCallRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.CallId, nameof(request));
        RequireUser(request.UserId, request.UserPhoneInner);
        var p = new JsonObject { ["CALL_ID"] = request.CallId };
        Set(p, "USER_ID", request.UserId);
        Set(p, "USER_PHONE_INNER", request.UserPhoneInner);
        Set(p, "DURATION", request.Duration is { } dur ? (long)dur.TotalSeconds : null);
        if (request.Cost is { } cost)
        {
            p["COST"] = cost;
        }

        Set(p, "COST_CURRENCY", request.CostCurrency);
        Set(p, "STATUS_CODE", request.StatusCode?.Code);
        Set(p, "FAILED_REASON", request.FailedReason);
        Set(p, "VOTE", request.Vote);
        Set(p, "ADD_TO_CHAT", Flag(request.AddToChat));
        return p;
    }

    /// <summary><c>telephony.externalCall.show</c>: true when shown, false when the call is not found.</summary>
    public Task<RestResult<bool>> ShowAsync(string memberId, string callId, IReadOnlyCollection<long>? userIds = null, CancellationToken cancellationToken = default) =>
        ShowOrHide(memberId, ShowMethod, callId, userIds, cancellationToken);

    /// <summary><c>telephony.externalCall.hide</c>: true when hidden, false when the call is not found.</summary>
    public Task<RestResult<bool>> HideAsync(string memberId, string callId, IReadOnlyCollection<long>? userIds = null, CancellationToken cancellationToken = default) =>
        ShowOrHide(memberId, HideMethod, callId, userIds, cancellationToken);

    private async Task<RestResult<bool>> ShowOrHide(string memberId, string method, string callId, IReadOnlyCollection<long>? userIds, CancellationToken cancellationToken)
    {
        var r = await rest.CallAsync(memberId, method, ShowHideParameters(callId, userIds), cancellationToken).ConfigureAwait(false);
        return r.Map(v => v.Result.ValueKind == JsonValueKind.True);
    }

    /// <summary>The parameters of <c>telephony.externalCall.show</c> / <c>hide</c>, for sending them inside a batch.</summary>
    public static JsonObject ShowHideParameters(string callId, IReadOnlyCollection<long>? userIds)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(callId);
        var p = new JsonObject { ["CALL_ID"] = callId };
        if (userIds is { Count: > 0 })
        {
            p["USER_ID"] = new JsonArray([.. userIds.Select(u => (JsonNode)u)]);
        }

        return p;
    }

    /// <summary><c>telephony.externalCall.attachRecord</c> with the file in <c>FILE_CONTENT</c> (base64, no
    /// <c>data:</c> prefix). Only wav and mp3 are accepted. For large files use <see cref="AttachRecordByUploadAsync"/>.</summary>
    public async Task<RestResult<AttachedRecord>> AttachRecordAsync(string memberId, string callId, string fileName, ReadOnlyMemory<byte> content,
        CancellationToken cancellationToken = default)
    {
        RequireRecordName(callId, fileName);
        var p = new JsonObject { ["CALL_ID"] = callId, ["FILENAME"] = fileName, ["FILE_CONTENT"] = Convert.ToBase64String(content.Span) };
        var r = await rest.CallAsync(memberId, "telephony.externalCall.attachRecord", p, cancellationToken).ConfigureAwait(false);
        return r.Map(v => new AttachedRecord(JsonRead.Long(v.Result, "FILE_ID"), v.Result));
    }

    /// <summary>
    /// <c>telephony.externalCall.attachRecord</c> in two steps: the call with <c>FILENAME</c> only answers
    /// <c>{"uploadUrl", "fieldName"}</c>; the file is then POSTed as <c>multipart/form-data</c> to
    /// <c>uploadUrl</c> in the form field named by <c>fieldName</c>. The telephony page does not spell out
    /// the upload format; the same /rest/upload.json mechanism is documented for Drive
    /// (EN-docs api-reference/disk/folder/disk-folder-upload-file.md#uploadurl). The upload goes only to
    /// the portal's own host.
    /// </summary>
    public async Task<RestResult<AttachedRecord>> AttachRecordByUploadAsync(string memberId, string callId, string fileName, ReadOnlyMemory<byte> content,
        CancellationToken cancellationToken = default)
    {
        RequireRecordName(callId, fileName);
        var step1 = await rest.CallAsync(memberId, "telephony.externalCall.attachRecord",
            new JsonObject { ["CALL_ID"] = callId, ["FILENAME"] = fileName }, cancellationToken).ConfigureAwait(false);
        if (!step1.IsSuccess)
        {
            return RestResult<AttachedRecord>.Failure(step1.Error, step1.Attempts);
        }

        var url = JsonRead.String(step1.Value.Result, "uploadUrl");
        var field = JsonRead.String(step1.Value.Result, "fieldName");
        if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(field) || !Uri.TryCreate(url, UriKind.Absolute, out var uploadUrl))
        {
            return RestResult<AttachedRecord>.Failure(new RestError(RestErrorKind.InvalidResponse, "NO_UPLOAD_URL",
                "attachRecord answered without uploadUrl/fieldName", 200), step1.Attempts);
        }

        var step2 = await rest.UploadAsync(memberId, uploadUrl, field, fileName, content, cancellationToken).ConfigureAwait(false);
        return step2.Map(v => new AttachedRecord(JsonRead.Long(v.Result, "FILE_ID") ?? JsonRead.Long(v.Result, "ID"), v.Result));
    }

    /// <summary><c>telephony.externalCall.searchCrmEntities</c>: CRM entities with this number, best first.</summary>
    public async Task<RestResult<IReadOnlyList<CrmEntityMatch>>> SearchCrmEntitiesAsync(string memberId, string phoneNumber, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(phoneNumber);
        var r = await rest.CallAsync(memberId, "telephony.externalCall.searchCrmEntities", new JsonObject { ["PHONE_NUMBER"] = phoneNumber }, cancellationToken).ConfigureAwait(false);
        return r.Map(v => (IReadOnlyList<CrmEntityMatch>)[.. JsonRead.Items(v.Result).Select(e => new CrmEntityMatch(
            CrmEntityType.From(JsonRead.String(e, "CRM_ENTITY_TYPE")), JsonRead.Long(e, "CRM_ENTITY_ID"), JsonRead.String(e, "NAME"),
            JsonRead.Long(e, "ASSIGNED_BY_ID"),
            JsonRead.Prop(e, "ASSIGNED_BY") is { ValueKind: JsonValueKind.Object } a
                ? new AssignedUser(JsonRead.Long(a, "ID"), JsonRead.String(a, "TIMEMAN_STATUS"), JsonRead.String(a, "USER_PHONE_INNER"))
                : null))]);
    }

    /// <summary><c>telephony.externalLine.add</c>: the new line's id.</summary>
    public async Task<RestResult<long>> AddLineAsync(string memberId, string number, string? name = null, bool? crmAutoCreate = null, CancellationToken cancellationToken = default)
    {
        var r = await rest.CallAsync(memberId, "telephony.externalLine.add", LineParams(number, name, crmAutoCreate), cancellationToken).ConfigureAwait(false);
        return LineId(r);
    }

    /// <summary><c>telephony.externalLine.update</c>: the line's id. Give a name, a CRM flag or both.</summary>
    public async Task<RestResult<long>> UpdateLineAsync(string memberId, string number, string? name = null, bool? crmAutoCreate = null, CancellationToken cancellationToken = default)
    {
        if (name is null && crmAutoCreate is null)
        {
            throw new ArgumentException("Give NAME or CRM_AUTO_CREATE: the portal refuses an update with no fields.", nameof(name));
        }

        var r = await rest.CallAsync(memberId, "telephony.externalLine.update", LineParams(number, name, crmAutoCreate), cancellationToken).ConfigureAwait(false);
        return LineId(r);
    }

    /// <summary><c>telephony.externalLine.delete</c>.</summary>
    public async Task<RestResult<bool>> DeleteLineAsync(string memberId, string number, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(number);
        var r = await rest.CallAsync(memberId, "telephony.externalLine.delete", new JsonObject { ["NUMBER"] = number }, cancellationToken).ConfigureAwait(false);
        return r.Map(_ => true);
    }

    /// <summary><c>telephony.externalLine.get</c>: this application's lines.</summary>
    public async Task<RestResult<IReadOnlyList<ExternalLine>>> GetLinesAsync(string memberId, CancellationToken cancellationToken = default)
    {
        var r = await rest.CallAsync(memberId, "telephony.externalLine.get", null, cancellationToken).ConfigureAwait(false);
        return r.Map(v => (IReadOnlyList<ExternalLine>)[.. JsonRead.Items(v.Result)
            .Select(e => new ExternalLine(JsonRead.String(e, "NUMBER") ?? "", JsonRead.String(e, "NAME"), JsonRead.Bool(e, "CRM_AUTO_CREATE")))]);
    }

    private static JsonObject LineParams(string number, string? name, bool? crmAutoCreate)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(number);
        var p = new JsonObject { ["NUMBER"] = number };
        Set(p, "NAME", name);
        Set(p, "CRM_AUTO_CREATE", crmAutoCreate is { } c ? (c ? "Y" : "N") : null);
        return p;
    }

    private static RestResult<long> LineId(RestResult<RestResponse> r)
    {
        if (!r.IsSuccess)
        {
            return RestResult<long>.Failure(r.Error, r.Attempts);
        }

        return JsonRead.Long(r.Value.Result, "ID") is { } id
            ? RestResult<long>.Success(id, r.Attempts)
            : RestResult<long>.Failure(new RestError(RestErrorKind.InvalidResponse, "NO_ID", "the line answer has no ID", 200), r.Attempts);
    }

    /// <summary>ISO-8601 with an explicit offset, e.g. <c>2026-03-07T10:20:30+03:00</c> (EN-docs data-types.md).</summary>
    internal static string Iso8601(DateTimeOffset value) =>
        value.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    private static void RequireUser(long? userId, string? userPhoneInner)
    {
        if (userId is null && string.IsNullOrWhiteSpace(userPhoneInner))
        {
            throw new ArgumentException("Set USER_ID or USER_PHONE_INNER.");
        }
    }

    private static void RequireRecordName(string callId, string fileName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(callId);
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        if (!fileName.EndsWith(".mp3", StringComparison.OrdinalIgnoreCase) && !fileName.EndsWith(".wav", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException("Only wav and mp3 recordings are accepted.", nameof(fileName));
        }
    }

    private static int? Flag(bool? value) => value is { } b ? (b ? 1 : 0) : null;

    private static void Set(JsonObject p, string name, string? value)
    {
        if (value is not null)
        {
            p[name] = value;
        }
    }

    private static void Set(JsonObject p, string name, long? value)
    {
        if (value is { } v)
        {
            p[name] = v;
        }
    }

    private static void Set(JsonObject p, string name, int? value)
    {
        if (value is { } v)
        {
            p[name] = v;
        }
    }
}
