using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Chat.Logic.Diagnostics;
using Chat.Protocol.Seams;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Chat.Logic.Moderation;

/// <summary>
/// The operator's JSON API (docs/operators.md): live counts, the report queue with its evidence,
/// ban / unban, the bans in force, the refusals of the last hour and the audit log. Every request
/// carries <c>Authorization: Bearer TOKEN</c>; the token's operator is who the audit log names.
/// Served by the operator's own listener (<see cref="OperatorOptions.Url"/>), never the visitors'.
/// </summary>
public static class OperatorApi
{
    private const int MostListed = 500;
    private const int MaxReasonLength = 500;

    /// <summary>The largest body a request may carry (a ban or a reason is a few hundred bytes).</summary>
    /// <summary>The largest body the operator listener reads (a ban, a note, a sign-in are far smaller).</summary>
    public const int MaxBodyBytes = 16 * 1024;
    private const string OperatorItem = "chat.operator";

    /// <summary>The JSON of the API's bodies, for the listener's serializer options (no reflection).</summary>
    public static System.Text.Json.Serialization.Metadata.IJsonTypeInfoResolver JsonResolver => OperatorJsonContext.Default;

    /// <summary>Maps the API for scripts under <c>/api</c> (bearer token only, never a cookie); its handlers use <paramref name="logic"/>'s services (the chat's own container).</summary>
    public static IEndpointRouteBuilder MapOperatorApi(this IEndpointRouteBuilder endpoints, IServiceProvider logic)
    {
        var options = logic.GetRequiredService<IOptions<OperatorOptions>>().Value;
        var api = endpoints.MapGroup("/api").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            http.Response.Headers.CacheControl = "no-store";
            var header = http.Request.Headers.Authorization.ToString();
            var name = header.StartsWith("Bearer ", StringComparison.Ordinal) ? options.OperatorOf(header["Bearer ".Length..].Trim()) : null;
            if (name is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Results.Json(new ApiError("a valid operator token is required (Authorization: Bearer TOKEN)"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status401Unauthorized);
            }

            // Only now may a body be read (the handlers read their own): nothing of a stranger's request is parsed.
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = MaxBodyBytes;
            }

            http.Items[OperatorItem] = name;
            return await next(context);
        });
        api.MapOperatorCalls(logic);
        return endpoints;
    }

    /// <summary>Marks the request as made by <paramref name="name"/>: the operator the audit log names for what the calls do.</summary>
    public static void ActAs(HttpContext http, string name) => http.Items[OperatorItem] = name;

    /// <summary>
    /// The calls themselves, on a group whose filter has already said who the operator is (<see cref="ActAs"/>):
    /// the bearer API for scripts and the operator page's cookie session share them, so both do exactly the same.
    /// </summary>
    public static RouteGroupBuilder MapOperatorCalls(this RouteGroupBuilder api, IServiceProvider logic)
    {
        var desk = logic.GetRequiredService<ModerationDesk>();
        var store = logic.GetRequiredService<IModerationStore>();
        var counts = logic.GetRequiredService<LiveCounts>();

        api.MapGet("/counts", async (CancellationToken ct) =>
        {
            var now = await counts.ReadAsync(ct);
            var bans = await desk.BansAsync();
            var open = await store.ListReportsAsync(openOnly: true, MostListed, ct);
            return Results.Json(new CountsView(now.Online, now.Waiting, now.ActiveSessions, bans.Bans.Count, open.Count), OperatorJsonContext.Default.CountsView);
        });

        api.MapGet("/reports", async (bool? all, CancellationToken ct) =>
        {
            var reports = await store.ListReportsAsync(openOnly: all != true, MostListed, ct);
            return Results.Json([.. reports.Select(ReportView.Of)], OperatorJsonContext.Default.ListReportView);
        });

        api.MapPost("/reports/{id}/close", async (string id, HttpContext http) =>
        {
            var (body, unread) = await ReadAsync(http, OperatorJsonContext.Default.ReasonBody);
            if ((unread ?? Because(body?.Reason)) is { } bad)
            {
                return bad;
            }

            return await desk.CloseReportAsync(id, Operator(http), body!.Reason!.Trim())
                ? Results.NoContent()
                : Results.Json(new ApiError("no open report with that id"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
        });

        api.MapGet("/bans", async () => Results.Json([.. (await desk.BansAsync()).Bans.Select(BanView.Of)], OperatorJsonContext.Default.ListBanView));

        api.MapPost("/bans", async (HttpContext http, CancellationToken ct) =>
        {
            var (body, unread) = await ReadAsync(http, OperatorJsonContext.Default.BanBody);
            if (unread is not null)
            {
                return unread;
            }

            if (body is null)
            {
                return Refused("send {\"target\": \"address\"|\"account\", \"value\" (or \"report\"), \"minutes\", \"reason\"}");
            }

            if (Because(body.Reason) is { } bad)
            {
                return bad;
            }

            if (body.Minutes is not (> 0 and <= 60 * 24 * 3650))
            {
                return Refused("minutes must be 1 to 5256000 (ten years)");
            }

            var value = body.Value;
            if (body.Report is { Length: > 0 } reportId)
            {
                if (await store.FindReportAsync(reportId, ct) is not { } report)
                {
                    return Results.Json(new ApiError("no report with that id"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
                }

                value = body.Target == "account" ? report.ReportedId.ToString(CultureInfo.InvariantCulture) : report.ReportedAddress;
                if (value is null || value.StartsWith("h:", StringComparison.Ordinal))
                {
                    return Refused("the report keeps the address as a hash: ban its account, or an address you know");
                }
            }

            BanTarget target;
            switch (body.Target)
            {
                case "account" when ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var accountId) && accountId > 0:
                    target = BanTarget.Account;
                    value = accountId.ToString(CultureInfo.InvariantCulture);
                    break;
                case "address" when AddressKey(value) is { } key:
                    target = BanTarget.Address;
                    value = key;
                    break;
                default:
                    return Refused("target must be \"account\" with an account id, or \"address\" with an IPv4 address or an IPv6 address or /64");
            }

            var ban = await desk.BanAsync(target, value!, TimeSpan.FromMinutes(body.Minutes.Value), body.Reason!.Trim(), Operator(http));
            return Results.Json(BanView.Of(ban.ToBan()), OperatorJsonContext.Default.BanView, statusCode: StatusCodes.Status201Created);
        });

        api.MapPost("/bans/{id}/lift", async (string id, HttpContext http) =>
        {
            var (body, unread) = await ReadAsync(http, OperatorJsonContext.Default.ReasonBody);
            if ((unread ?? Because(body?.Reason)) is { } bad)
            {
                return bad;
            }

            return await desk.UnbanAsync(id, Operator(http), body!.Reason!.Trim())
                ? Results.NoContent()
                : Results.Json(new ApiError("no ban in force with that id"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
        });

        api.MapGet("/refusals", async () => Results.Json(await desk.RefusalsAsync(), OperatorJsonContext.Default.DictionaryStringInt64));

        api.MapGet("/audit", async (CancellationToken ct) =>
            Results.Json([.. (await store.ListAuditAsync(MostListed, ct)).Select(e => new AuditView(e.AtUnixMs, e.Actor, e.Action, e.Target, e.Reason))], OperatorJsonContext.Default.ListAuditView));

        return api;
    }

    private static string Operator(HttpContext http) => (string)http.Items[OperatorItem]!;

    /// <summary>The request's JSON body (null when it has none), or the refusal of a body too big or not JSON of that shape.</summary>
    private static async Task<(T? Body, IResult? Refusal)> ReadAsync<T>(HttpContext http, JsonTypeInfo<T> type) where T : class
    {
        if (http.Request.ContentLength is 0 || (http.Request.ContentLength is null && !http.Request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return (null, null);
        }

        if (!http.Request.HasJsonContentType())
        {
            return (null, Results.Json(new ApiError("send the body as application/json"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status415UnsupportedMediaType));
        }

        try
        {
            return (await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted), null);
        }
        catch (JsonException)
        {
            return (null, Refused("the body is not JSON of the documented shape"));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Results.Json(new ApiError($"the body is larger than {MaxBodyBytes} bytes"), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status413PayloadTooLarge));
        }
    }

    private static IResult? Because(string? reason) =>
        string.IsNullOrWhiteSpace(reason) || reason.Length > MaxReasonLength ? Refused($"reason is required (1-{MaxReasonLength} characters): the audit log keeps why") : null;

    private static IResult Refused(string message) => Results.Json(new ApiError(message), OperatorJsonContext.Default.ApiError, statusCode: StatusCodes.Status400BadRequest);

    /// <summary>The key an address is counted and banned under (IPv6: its /64), or null if it is not one.</summary>
    private static string? AddressKey(string? value)
    {
        var text = value?.Trim() ?? string.Empty;
        if (text.EndsWith("/64", StringComparison.Ordinal))
        {
            text = text[..^3];
        }

        return IPAddress.TryParse(text, out var address) ? ClientAddresses.KeyOf(address) : null;
    }
}

internal sealed record ApiError(string Error);

internal sealed record CountsView(int Online, int Waiting, int ActiveSessions, int BansInForce, int OpenReports);

internal sealed record ReasonBody(string? Reason);

/// <param name="Report">Instead of <see cref="Value"/>: ban the reported account (target account) or address (target address, when reports keep addresses plain) of this report.</param>
internal sealed record BanBody(string? Target, string? Value, string? Report, int? Minutes, string? Reason);

internal sealed record BanView(string Ref, string Target, string Value, long Until, string Reason)
{
    public static BanView Of(Ban ban) => new(ban.Ref, ban.Target == BanTarget.Account ? "account" : "address", ban.Value, ban.UntilUnixMs, ban.Reason);
}

internal sealed record EvidenceView(ulong MsgId, ulong SenderId, string Content, long SentAt);

internal sealed record ReportView(
    string Id, ulong SessionId, ulong ReporterId, ulong ReportedId, string? ReporterAddress, string? ReportedAddress,
    string Reason, string? Note, long CreatedAt, long? ClosedAt, string? ClosedBy, IReadOnlyList<EvidenceView> Evidence)
{
    public static ReportView Of(ReportRecord r) => new(
        r.Id, r.SessionId, r.ReporterId, r.ReportedId, r.ReporterAddress, r.ReportedAddress, r.Reason, r.Note, r.CreatedAtUnixMs, r.ClosedAtUnixMs, r.ClosedBy,
        [.. r.Evidence.Select(e => new EvidenceView(e.MsgId, e.SenderId, e.Content, e.SentAtUnixMs))]);
}

internal sealed record AuditView(long At, string Actor, string Action, string Target, string Reason);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ApiError))]
[JsonSerializable(typeof(CountsView))]
[JsonSerializable(typeof(ReasonBody))]
[JsonSerializable(typeof(SignInBody))]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(BanBody))]
[JsonSerializable(typeof(BanView))]
[JsonSerializable(typeof(List<BanView>))]
[JsonSerializable(typeof(List<ReportView>))]
[JsonSerializable(typeof(List<AuditView>))]
[JsonSerializable(typeof(Dictionary<string, long>))]
internal sealed partial class OperatorJsonContext : JsonSerializerContext;
