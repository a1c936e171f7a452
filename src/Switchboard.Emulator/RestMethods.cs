using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Emulator;

/// <summary>The caller of a REST method: the token's user.</summary>
internal sealed record Caller(EmulatedUser User, TokenPair Token);

/// <summary>
/// The REST methods the emulator implements. Shapes and error texts follow REFERENCE.md §1.4–§1.6,
/// §2.4, §4.6 and §6 (EN-docs pages named at each method). Unknown names are answered by the caller.
/// </summary>
internal sealed class RestMethods(EmulatorOptions options, PortalState state, Faults faults, TimeProvider time, Func<string> baseAddress)
{
    private static readonly HttpClient Downloader = new() { Timeout = TimeSpan.FromSeconds(30) };

    // EN-docs api-reference/events/events.md lists these among others; the emulator knows the app and telephony ones.
    internal static readonly HashSet<string> KnownEvents = new(StringComparer.Ordinal)
    {
        "ONAPPINSTALL", "ONAPPUNINSTALL", "ONAPPUPDATE", "ONAPPPAYMENT", "ONAPPTEST", "ONAPPMETHODCONFIRM", "ONOFFLINEEVENT",
        "ONEXTERNALCALLSTART", "ONEXTERNALCALLBACKSTART", "ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND",
    };

    /// <summary>Called with ("init"|"end", CALL_ID) when REST creates or finishes a call, for the echo events.</summary>
    public Action<string, string>? CallChanged { get; set; }

    private readonly Dictionary<string, (string CallId, string FileName)> _pendingUploads = new(StringComparer.Ordinal);

    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
    {
        "app.info", "event.bind", "event.get", "event.unbind", "user.get",
        "telephony.externalline.add", "telephony.externalline.get", "telephony.externalline.update", "telephony.externalline.delete",
        "telephony.externalcall.register", "telephony.externalcall.show", "telephony.externalcall.hide", "telephony.externalcall.finish",
        "telephony.externalcall.attachrecord", "telephony.externalcall.searchcrmentities",
    };

    public async Task<RestOutcome> InvokeAsync(string method, FormNode p, Caller caller, CancellationToken ct) => method switch
    {
        "app.info" => AppInfo(),
        "event.bind" => EventBind(p, caller),
        "event.get" => EventGet(),
        "event.unbind" => EventUnbind(p),
        "user.get" => UserGet(p),
        "telephony.externalline.add" => LineAdd(p),
        "telephony.externalline.get" => LineGet(),
        "telephony.externalline.update" => LineUpdate(p),
        "telephony.externalline.delete" => LineDelete(p),
        "telephony.externalcall.register" => Register(p),
        "telephony.externalcall.show" => ShowHide(p, show: true),
        "telephony.externalcall.hide" => ShowHide(p, show: false),
        "telephony.externalcall.finish" => Finish(p),
        "telephony.externalcall.attachrecord" => await AttachRecordAsync(p, caller, ct),
        "telephony.externalcall.searchcrmentities" => SearchCrm(p),
        _ => throw new InvalidOperationException($"Not a known method: {method}"),
    };

    // EN-docs api-reference/common/system/app-info.md (REFERENCE §2.4).
    private RestOutcome AppInfo() => RestOutcome.Ok(new JsonObject
    {
        ["ID"] = 17,
        ["CODE"] = options.ClientId,
        ["VERSION"] = options.AppVersion,
        ["STATUS"] = options.AppStatus,
        ["INSTALLED"] = true,
        ["PAYMENT_EXPIRED"] = "N",
        ["DAYS"] = null,
        ["LANGUAGE_ID"] = "en",
        ["LICENSE"] = "en_project",
        ["LICENSE_TYPE"] = "project",
        ["LICENSE_FAMILY"] = "project",
    });

    // EN-docs api-reference/events/event-bind.md (REFERENCE §1.4).
    private RestOutcome EventBind(FormNode p, Caller caller)
    {
        var ev = Params.Str(p, "event")?.Trim().ToUpperInvariant() ?? "";
        var handler = Params.Str(p, "handler") ?? "";
        var offline = string.Equals(Params.Str(p, "event_type"), "offline", StringComparison.OrdinalIgnoreCase);
        var authType = Params.Long(p, "auth_type") ?? 0;
        if (!KnownEvents.Contains(ev))
        {
            return RestOutcome.Fail(400, "ERROR_EVENT_NOT_FOUND", "Event not found");
        }

        if (offline && !caller.User.IsAdmin)
        {
            return RestOutcome.Fail(403, "ACCESS_DENIED", "Access denied! Offline events binding requires administrator access rights");
        }

        if (authType != 0 && authType != caller.User.Id && !caller.User.IsAdmin)
        {
            return RestOutcome.Fail(403, "ACCESS_DENIED", "Access denied! Event binding with AUTH_TYPE requires administrator access rights");
        }

        if (!offline && !Uri.TryCreate(handler, UriKind.Absolute, out _))
        {
            // UNVERIFIED: the docs list no error for a missing/invalid online handler; ERROR_CORE is the generic shape.
            return RestOutcome.Core("Handler is required for online events");
        }

        lock (state.Sync)
        {
            // Duplicate: EN-docs test-handler.md says "Unable to set event handler"; real portals answer
            // ERROR_CORE "Handler already binded" (3rd-party code, REFERENCE §1.4). We answer the latter,
            // the text clients actually match on; error-codes.md's example ERROR_HANDLER_ALREADY_EXIST is not used.
            if (state.HandlerList.Exists(h => h.Event == ev && h.Handler == handler && h.AuthType == authType && h.Offline == offline))
            {
                return RestOutcome.Core("Handler already binded");
            }

            state.HandlerList.Add(new BoundHandler(state.NextHandlerId++, ev, handler, authType, offline));
        }

        return RestOutcome.Ok(true);
    }

    // EN-docs api-reference/events/event-get.md: array of {event, handler, auth_type (string), offline (0|1)}.
    private RestOutcome EventGet()
    {
        var list = new JsonArray();
        foreach (var h in state.Handlers)
        {
            list.Add(new JsonObject
            {
                ["event"] = h.Event,
                ["handler"] = h.Handler,
                ["auth_type"] = h.AuthType.ToString(CultureInfo.InvariantCulture),
                ["offline"] = h.Offline ? 1 : 0,
            });
        }

        return RestOutcome.Ok(list);
    }

    // EN-docs api-reference/events/event-unbind.md: {"result": {"count": N}}; absent parameters match everything.
    private RestOutcome EventUnbind(FormNode p)
    {
        var ev = Params.Str(p, "event")?.Trim().ToUpperInvariant();
        var handler = Params.Str(p, "handler");
        var authType = Params.Long(p, "auth_type") ?? 0;
        var offline = string.Equals(Params.Str(p, "event_type"), "offline", StringComparison.OrdinalIgnoreCase);
        int count;
        lock (state.Sync)
        {
            count = state.HandlerList.RemoveAll(h =>
                (string.IsNullOrEmpty(ev) || h.Event == ev) &&
                (string.IsNullOrEmpty(handler) || h.Handler == handler) &&
                h.AuthType == authType && h.Offline == offline);
        }

        return RestOutcome.Ok(new JsonObject { ["count"] = count });
    }

    // EN-docs api-reference/user/user-get.md (REFERENCE §6.9): FILTER incl. UF_PHONE_INNER, pages of 50, total/next.
    private RestOutcome UserGet(FormNode p)
    {
        var filter = Params.Node(p, "FILTER") ?? Params.Node(p, "filter");
        var conditions = new List<(string Op, string Field, FormNode Value)>();
        if (filter is { IsValue: false })
        {
            foreach (var (k, v) in filter.Children)
            {
                conditions.Add(SplitOperator(k, v));
            }
        }
        else
        {
            // The legacy form: filter fields at the top level (user.get?ID=1).
            foreach (var (k, v) in p.Children)
            {
                if (k.ToUpperInvariant() is not ("SORT" or "ORDER" or "START" or "ADMIN_MODE" or "SELECT" or "IMAGE_RESIZE" or "AUTH"))
                {
                    conditions.Add(SplitOperator(k, v));
                }
            }
        }

        var matches = state.Users.Where(u => conditions.TrueForAll(c => Matches(u, c.Op, c.Field, c.Value))).OrderBy(u => u.Id).ToList();
        var start = Math.Max(0, Params.Long(p, "start") ?? 0);
        var page = matches.Skip((int)Math.Min(start, int.MaxValue)).Take(50);
        var arr = new JsonArray();
        foreach (var u in page)
        {
            arr.Add(UserJson(u));
        }

        long? next = start + 50 < matches.Count ? start + 50 : null;
        return RestOutcome.Ok(arr, matches.Count, next);
    }

    private static (string Op, string Field, FormNode Value) SplitOperator(string key, FormNode value)
    {
        // EN-docs user-get.md: prefix operators >=, >, <=, <, @, !@, %, =%, %=, !%, !=%, !%=, =, !=, !.
        // The emulator implements equality (none, =), negation (!, !=), substring (%) and IN (@).
        foreach (var op in new[] { "!=", "!", "=", "%", "@" })
        {
            if (key.StartsWith(op, StringComparison.Ordinal))
            {
                return (op, key[op.Length..].ToUpperInvariant(), value);
            }
        }

        return ("=", key.ToUpperInvariant(), value);
    }

    private static bool Matches(EmulatedUser u, string op, string field, FormNode value)
    {
        string? actual = field switch
        {
            "ID" => u.Id.ToString(CultureInfo.InvariantCulture),
            "ACTIVE" => u.Active ? "Y" : "N",
            "NAME" => u.Name,
            "LAST_NAME" => u.LastName,
            "EMAIL" => u.Email,
            "UF_PHONE_INNER" => u.PhoneInner ?? "",
            "USER_TYPE" => "employee",
            "IS_ONLINE" => "N",
            _ => null,
        };
        if (actual is null)
        {
            return true; // Unknown filter fields are ignored, as the portal skips what it does not know.
        }

        var wanted = value.IsValue ? [value.Value] : value.Children.Where(c => c.Value.IsValue).Select(c => c.Value.Value!).ToList();
        bool Eq(string w) => field == "ACTIVE" ? (Params.IsTrue(w) ? "Y" : "N") == actual : string.Equals(w, actual, StringComparison.OrdinalIgnoreCase);
        return op switch
        {
            "!" or "!=" => !wanted.Exists(Eq),
            "%" => wanted.Exists(w => actual.Contains(w, StringComparison.OrdinalIgnoreCase)),
            _ => wanted.Exists(Eq),
        };
    }

    private static JsonObject UserJson(EmulatedUser u) => new()
    {
        ["ID"] = u.Id.ToString(CultureInfo.InvariantCulture),
        ["XML_ID"] = null,
        ["ACTIVE"] = u.Active,
        ["NAME"] = u.Name,
        ["LAST_NAME"] = u.LastName,
        ["SECOND_NAME"] = "",
        ["EMAIL"] = u.Email,
        ["IS_ONLINE"] = "N",
        ["USER_TYPE"] = "employee",
        ["UF_PHONE_INNER"] = u.PhoneInner,
        ["UF_DEPARTMENT"] = new JsonArray(1),
    };

    // EN-docs telephony-external-line-add.md: {"result": {"ID": 7}}; "NUMBER should not be empty", "Line already exists".
    private RestOutcome LineAdd(FormNode p)
    {
        var number = Params.Str(p, "NUMBER")?.Trim();
        if (string.IsNullOrEmpty(number))
        {
            return RestOutcome.Core("NUMBER should not be empty");
        }

        lock (state.Sync)
        {
            if (state.LineList.Exists(l => l.Number == number))
            {
                return RestOutcome.Core("Line already exists");
            }

            var line = new ExternalLine(state.NextLineId++, number, Params.Str(p, "NAME") ?? "", Params.Flag(p, "CRM_AUTO_CREATE", true));
            state.LineList.Add(line);
            return RestOutcome.Ok(new JsonObject { ["ID"] = line.Id });
        }
    }

    // EN-docs telephony-external-line-get.md: array of {NUMBER, NAME, CRM_AUTO_CREATE}.
    private RestOutcome LineGet()
    {
        var arr = new JsonArray();
        foreach (var l in state.Lines)
        {
            arr.Add(new JsonObject { ["NUMBER"] = l.Number, ["NAME"] = l.Name, ["CRM_AUTO_CREATE"] = l.CrmAutoCreate ? "Y" : "N" });
        }

        return RestOutcome.Ok(arr);
    }

    // EN-docs telephony-external-line-update.md: {"result": {"ID": "7"}} (a string here).
    private RestOutcome LineUpdate(FormNode p)
    {
        var number = Params.Str(p, "NUMBER")?.Trim();
        if (string.IsNullOrEmpty(number))
        {
            return RestOutcome.Core("NUMBER should not be empty");
        }

        var name = Params.Str(p, "NAME");
        var crm = Params.Str(p, "CRM_AUTO_CREATE");
        if (name is null && crm is null)
        {
            return RestOutcome.Core("There are no fields to update");
        }

        lock (state.Sync)
        {
            var i = state.LineList.FindIndex(l => l.Number == number);
            if (i < 0)
            {
                return RestOutcome.Core($"Could not find line with number {number}");
            }

            var line = state.LineList[i] with { Name = name ?? state.LineList[i].Name, CrmAutoCreate = crm is null ? state.LineList[i].CrmAutoCreate : Params.IsTrue(crm) };
            state.LineList[i] = line;
            return RestOutcome.Ok(new JsonObject { ["ID"] = line.Id.ToString(CultureInfo.InvariantCulture) });
        }
    }

    // EN-docs telephony-external-line-delete.md: {"result": []}.
    private RestOutcome LineDelete(FormNode p)
    {
        var number = Params.Str(p, "NUMBER")?.Trim() ?? "";
        lock (state.Sync)
        {
            return state.LineList.RemoveAll(l => l.Number == number) == 0
                ? RestOutcome.Core($"Could not find line with number {number}")
                : RestOutcome.Ok(new JsonArray());
        }
    }

    private EmulatedUser? ResolveUser(FormNode p)
    {
        var id = Params.Long(p, "USER_ID");
        var inner = Params.Str(p, "USER_PHONE_INNER");
        lock (state.Sync)
        {
            return id is { } i ? state.UserList.Find(u => u.Id == i) : state.UserList.Find(u => u.PhoneInner == inner);
        }
    }

    // EN-docs telephony-external-call-register.md (REFERENCE §6.1).
    private RestOutcome Register(FormNode p)
    {
        if (Params.Long(p, "USER_ID") is null && string.IsNullOrEmpty(Params.Str(p, "USER_PHONE_INNER")))
        {
            return RestOutcome.Core("USER_ID or USER_PHONE_INNER should be set");
        }

        var type = Params.Long(p, "TYPE");
        if (type is not (>= 1 and <= 5))
        {
            return RestOutcome.Core("Unknown TYPE");
        }

        var dateText = Params.Str(p, "CALL_START_DATE");
        if (!string.IsNullOrEmpty(dateText) && !DateTimeOffset.TryParse(dateText, CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return RestOutcome.Core("CALL_START_DATE should be in the ISO-8601 format");
        }

        var phone = Params.Str(p, "PHONE_NUMBER")?.Trim() ?? "";
        if (phone.Length == 0 || !phone.Any(char.IsAsciiDigit))
        {
            return RestOutcome.Core("Unsupported phone number format");
        }

        var user = ResolveUser(p);
        if (user is not { Active: true })
        {
            return RestOutcome.Core("User is not found or is not active");
        }

        var line = Params.Str(p, "LINE_NUMBER") ?? "";
        var external = Params.Str(p, "EXTERNAL_CALL_ID") ?? "";
        var now = time.GetUtcNow();
        var leadError = faults.TakeLeadCreationError();
        EmulatedCall call;
        lock (state.Sync)
        {
            // REFERENCE §6.1 / b24-rest-docs#175: a repeat register within 30 minutes with the same
            // PHONE_NUMBER, TYPE, user, LINE_NUMBER and EXTERNAL_CALL_ID returns the existing CALL_ID —
            // even when that call was already finished, so a second finish then fails with "Call is not found".
            var existing = state.CallList.FindLast(c =>
                c.Origin == "rest" && c.PhoneNumber == phone && c.Type == type && c.UserId == user.Id &&
                c.LineNumber == line && c.ExternalCallId == external && now - c.RegisteredAt < TimeSpan.FromMinutes(30));
            if (existing is not null)
            {
                existing.RegisterCount++;
                call = existing;
            }
            else
            {
                call = new EmulatedCall
                {
                    CallId = NewCallId(now),
                    ExternalCallId = external,
                    RegisterParameters = Params.Flatten(p),
                    UserId = user.Id,
                    PhoneNumber = phone,
                    Type = (int)type,
                    LineNumber = line,
                    RegisteredAt = now,
                };
                state.CallList.Add(call);
                CallChanged?.Invoke("init", call.CallId);
            }
        }

        var result = new JsonObject { ["CALL_ID"] = call.CallId, ["CRM_CREATED_LEAD"] = null, ["CRM_CREATED_ENTITIES"] = new JsonArray() };
        var known = FindCrm(phone);
        if (Params.Str(p, "CRM_ENTITY_TYPE") is { Length: > 0 } givenType && Params.Long(p, "CRM_ENTITY_ID") is { } givenId)
        {
            call.CrmEntityType = givenType;
            call.CrmEntityId = givenId;
        }
        else if (known is not null)
        {
            call.CrmEntityType = known.Type;
            call.CrmEntityId = known.Id;
        }
        else if (leadError is not null)
        {
            // FIELD-LESSONS: register can answer 200 and still carry LEAD_CREATION_ERROR.
            result["LEAD_CREATION_ERROR"] = leadError;
        }
        else if (Params.Flag(p, "CRM_CREATE", false))
        {
            long leadId;
            lock (state.Sync)
            {
                leadId = state.NextLeadId++;
                state.CrmList.Add(new CrmEntity { Type = "LEAD", Id = leadId, Name = $"Lead {phone}", Phone = phone, AssignedById = user.Id });
            }

            call.CrmEntityType = "LEAD";
            call.CrmEntityId = leadId;
            result["CRM_CREATED_LEAD"] = leadId;
            result["CRM_CREATED_ENTITIES"] = new JsonArray(new JsonObject { ["ENTITY_TYPE"] = "LEAD", ["ENTITY_ID"] = leadId });
        }

        if (leadError is not null && !result.ContainsKey("LEAD_CREATION_ERROR"))
        {
            result["LEAD_CREATION_ERROR"] = leadError;
        }

        result["CRM_ENTITY_TYPE"] = call.CrmEntityType;
        result["CRM_ENTITY_ID"] = call.CrmEntityId;
        return RestOutcome.Ok(result);
    }

    /// <summary>REFERENCE §5.1: <c>externalCall.&lt;32 hex&gt;.&lt;unixts&gt;</c> (an md5 on the portal; random here).</summary>
    internal static string NewCallId(DateTimeOffset now) =>
        $"externalCall.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}.{now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}";

    private CrmEntity? FindCrm(string phone)
    {
        var digits = Digits(phone);
        lock (state.Sync)
        {
            return digits.Length == 0 ? null : state.CrmList.Find(c => Digits(c.Phone) == digits);
        }
    }

    private static string Digits(string s) => new(s.Where(char.IsAsciiDigit).ToArray());

    // EN-docs telephony-external-call-show.md / -hide.md: result true, or false when the call is not found.
    private RestOutcome ShowHide(FormNode p, bool show)
    {
        var callId = Params.Str(p, "CALL_ID") ?? "";
        lock (state.Sync)
        {
            var call = state.CallList.Find(c => c.CallId == callId);
            if (call is null)
            {
                return RestOutcome.Ok(false);
            }

            var users = Params.List(p, "USER_ID").Select(s => long.TryParse(s, CultureInfo.InvariantCulture, out var v) ? v : 0).Where(v => v > 0).ToList();
            if (users.Count == 0)
            {
                users.Add(call.UserId);
            }

            (show ? call.ShownTo : call.HiddenFrom).AddRange(users);
        }

        return RestOutcome.Ok(true);
    }

    // EN-docs telephony-external-call-finish.md (REFERENCE §6.2).
    private RestOutcome Finish(FormNode p)
    {
        var callId = Params.Str(p, "CALL_ID");
        if (string.IsNullOrEmpty(callId))
        {
            return RestOutcome.Fail(400, "INVALID_ARGUMENT", "CALL_ID must be a string");
        }

        if (Params.Long(p, "USER_ID") is null && string.IsNullOrEmpty(Params.Str(p, "USER_PHONE_INNER")))
        {
            return RestOutcome.Core("USER_ID or USER_PHONE_INNER should be set");
        }

        var user = ResolveUser(p);
        if (user is not { Active: true })
        {
            return RestOutcome.Core("User is not found or is not active");
        }

        var duration = Params.Long(p, "DURATION") ?? 0;
        // "Default 200 if DURATION > 0, otherwise 304."
        var status = Params.Str(p, "STATUS_CODE") is { Length: > 0 } s ? s : duration > 0 ? "200" : "304";
        EmulatedCall? call;
        lock (state.Sync)
        {
            call = state.CallList.Find(c => c.CallId == callId);
            if (call is null || call.Finished)
            {
                return RestOutcome.Core("Call is not found (call should be registered prior to finishing)");
            }

            call.FinishedAt = time.GetUtcNow();
            call.FinishParameters = Params.Flatten(p);
            call.StatisticId = state.NextStatisticId++;
        }

        CallChanged?.Invoke("end", call.CallId);

        return RestOutcome.Ok(new JsonObject
        {
            ["ID"] = call.StatisticId,
            ["CALL_ID"] = call.CallId,
            ["EXTERNAL_CALL_ID"] = call.ExternalCallId,
            ["PORTAL_USER_ID"] = user.Id,
            ["PHONE_NUMBER"] = call.PhoneNumber,
            ["PORTAL_NUMBER"] = call.LineNumber.Length > 0 ? call.LineNumber : "REST_APP:17",
            ["INCOMING"] = call.Type.ToString(CultureInfo.InvariantCulture),
            ["CALL_DURATION"] = duration,
            ["CALL_START_DATE"] = new JsonObject(), // The doc example shows the date serialised as {}.
            ["CALL_STATUS"] = status == "200" ? 1 : 0,
            ["CALL_VOTE"] = Params.Long(p, "VOTE"),
            ["COST"] = Params.Str(p, "COST") ?? "0",
            ["COST_CURRENCY"] = Params.Str(p, "COST_CURRENCY") ?? "",
            ["CALL_FAILED_CODE"] = status,
            ["CALL_FAILED_REASON"] = Params.Str(p, "FAILED_REASON") ?? "",
            ["REST_APP_ID"] = 17,
            ["REST_APP_NAME"] = "Switchboard",
            ["CRM_ACTIVITY_ID"] = 1000 + call.StatisticId,
            ["COMMENT"] = null,
            ["CRM_ENTITY_TYPE"] = call.CrmEntityType,
            ["CRM_ENTITY_ID"] = call.CrmEntityId,
        });
    }

    // EN-docs telephony-external-call-attach-record.md (REFERENCE §6.4).
    private async Task<RestOutcome> AttachRecordAsync(FormNode p, Caller caller, CancellationToken ct)
    {
        var callId = Params.Str(p, "CALL_ID") ?? "";
        var url = Params.Str(p, "RECORD_URL");
        var fileName = Params.Str(p, "FILENAME");
        var content = Params.Str(p, "FILE_CONTENT");
        if (string.IsNullOrEmpty(url) && fileName is null)
        {
            return RestOutcome.Core("Required parameters are not set. Request should contain either URL or FILENAME parameter");
        }

        var call = state.FindCall(callId);
        if (call is not { Finished: true })
        {
            return RestOutcome.Core("Call is not found in the statistic table. It looks like it is not finished yet.");
        }

        if (string.IsNullOrEmpty(fileName) && !string.IsNullOrEmpty(url))
        {
            fileName = Path.GetFileName(new Uri(url).AbsolutePath);
        }

        if (string.IsNullOrEmpty(fileName))
        {
            return RestOutcome.Core("File name is empty");
        }

        if (!IsAllowedExtension(fileName))
        {
            return RestOutcome.Core("Wrong file extension. Only wav and mp3 are allowed");
        }

        if (!string.IsNullOrEmpty(url) && content is null)
        {
            // "Bitrix24 downloads the file itself, making one attempt."
            using var response = await Downloader.GetAsync(new Uri(url), ct);
            if (!response.IsSuccessStatusCode)
            {
                return RestOutcome.Core($"Server returns HTTP error code {(int)response.StatusCode}");
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            return RestOutcome.Ok(new JsonObject { ["FILE_ID"] = Store(callId, fileName, bytes.LongLength, "url") });
        }

        if (content is null)
        {
            // FILENAME without FILE_CONTENT: the two-step upload through uploadUrl.
            var token = "telephony|" + TokenStore.NewToken();
            lock (state.Sync)
            {
                _pendingUploads[token] = (callId, fileName);
            }

            var uploadUrl = $"{baseAddress()}rest/upload.json?auth={Uri.EscapeDataString(caller.Token.AccessToken)}&token={Uri.EscapeDataString(token)}";
            return RestOutcome.Ok(new JsonObject { ["uploadUrl"] = uploadUrl, ["fieldName"] = "file" });
        }

        if (content.Length == 0)
        {
            return RestOutcome.Core("File content is empty.");
        }

        var buffer = new byte[content.Length];
        if (!Convert.TryFromBase64String(content, buffer, out var size))
        {
            return RestOutcome.Core("File content is not properly encoded. Base64 encoding is expected.");
        }

        return RestOutcome.Ok(new JsonObject { ["FILE_ID"] = Store(callId, fileName, size, "base64") });
    }

    internal static bool IsAllowedExtension(string fileName) =>
        Path.GetExtension(fileName).ToUpperInvariant() is ".WAV" or ".MP3";

    private long Store(string callId, string fileName, long size, string mode)
    {
        lock (state.Sync)
        {
            // "Calling it again replaces the earlier recording."
            state.RecordingList.RemoveAll(r => r.CallId == callId);
            var id = state.NextFileId++;
            state.RecordingList.Add(new Recording(id, callId, fileName, size, mode));
            return id;
        }
    }

    /// <summary>Finishes an uploadUrl upload: the multipart body's <c>file</c> field.</summary>
    internal RestOutcome CompleteUpload(string? token, string? fileName, long size)
    {
        (string CallId, string FileName) pending;
        lock (state.Sync)
        {
            if (token is null || !_pendingUploads.Remove(token, out pending))
            {
                return RestOutcome.Fail(400, "ERROR_CORE", "Upload token is not valid");
            }
        }

        if (size == 0)
        {
            return RestOutcome.Core("File content is empty.");
        }

        // UNVERIFIED: the answer of /rest/upload.json for telephony is not documented; we mirror the base64 mode.
        return RestOutcome.Ok(new JsonObject { ["FILE_ID"] = Store(pending.CallId, pending.FileName, size, "uploadUrl") });
    }

    // EN-docs telephony-external-call-search-crm-entities.md (REFERENCE §6.5).
    private RestOutcome SearchCrm(FormNode p)
    {
        var phone = Params.Str(p, "PHONE_NUMBER") ?? "";
        if (phone.Length == 0)
        {
            return RestOutcome.Core("PHONE_NUMBER is empty");
        }

        var digits = Digits(phone);
        var arr = new JsonArray();
        List<CrmEntity> found;
        lock (state.Sync)
        {
            found = state.CrmList.Where(c => digits.Length > 0 && Digits(c.Phone) == digits).ToList();
        }

        foreach (var c in found)
        {
            var owner = state.Users.FirstOrDefault(u => u.Id == c.AssignedById);
            arr.Add(new JsonObject
            {
                ["CRM_ENTITY_TYPE"] = c.Type,
                ["CRM_ENTITY_ID"] = c.Id,
                ["ASSIGNED_BY_ID"] = c.AssignedById,
                ["NAME"] = c.Name,
                ["ASSIGNED_BY"] = new JsonObject
                {
                    ["ID"] = c.AssignedById.ToString(CultureInfo.InvariantCulture),
                    ["TIMEMAN_STATUS"] = "NOT_INSTALLED",
                    ["USER_PHONE_INNER"] = owner?.PhoneInner ?? "",
                    ["WORK_PHONE"] = "",
                    ["PERSONAL_PHONE"] = "",
                    ["PERSONAL_MOBILE"] = "",
                },
            });
        }

        return RestOutcome.Ok(arr);
    }
}
