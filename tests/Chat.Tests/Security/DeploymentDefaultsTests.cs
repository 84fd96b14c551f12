using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Chat.Testing.Cluster;
using Chat.Testing.Files;
using Chat.Tests.Infrastructure;

namespace Chat.Tests.Security;

/// <summary>
/// The defaults a deployment gets without thinking: nginx (deploy/nginx/chat.conf.template) hides
/// the metrics however the path is spelled, all-in-one believes only its trusted proxies about
/// who a caller is and how it came, and a socket opens only from a page of the same origin.
/// </summary>
public sealed class DeploymentDefaultsTests
{
    private const string Outside = "203.0.113.7";

    [Theory]
    [InlineData("/metrics")]
    [InlineData("/metrics/")]
    [InlineData("/Metrics")]
    [InlineData("/METRICS/")]
    [InlineData("/%6detrics")]
    [InlineData("/%6D%65trics")]
    [InlineData("//metrics")]
    [InlineData("/./metrics")]
    [InlineData("/x/../metrics")]
    [InlineData("/metrics?name=chat_broker_connections")]
    public async Task Through_nginx_the_metrics_are_refused_however_the_path_is_spelled(string path)
    {
        await using var server = await ChatServer.StartAsync("Chat:Cluster:TrustedProxies=127.0.0.1");
        using var folder = TempFolder.Create("chat-nginx-");
        var upstream = server.HttpUri.Authority;
        await using var nginx = await NginxServer.StartAsync(folder.File("nginx"), folder.File("logs"), [upstream, upstream], port: null, CancellationToken.None);

        var (status, body) = await GetRawAsync(nginx.Port, path);
        Assert.Equal(404, status);
        Assert.Contains("nginx", body, StringComparison.Ordinal); // nginx said no: the request never reached the server
        Assert.Equal(200, (await GetRawAsync(nginx.Port, "/")).Status);
        Assert.Equal(200, (await GetRawAsync(server.HttpUri.Port, "/metrics")).Status); // the operator, on the machine itself
    }

    [Fact]
    public async Task All_in_one_believes_X_Forwarded_For_from_its_trusted_proxies_only_and_a_forwarded_caller_is_not_local()
    {
        await using (var behindNginx = await ChatServer.StartAsync("Chat:Cluster:TrustedProxies=127.0.0.1"))
        {
            Assert.Equal(404, (await GetRawAsync(behindNginx.HttpUri.Port, "/metrics", ("X-Forwarded-For", Outside))).Status);
            Assert.Equal(200, (await GetRawAsync(behindNginx.HttpUri.Port, "/metrics", ("X-Forwarded-For", "127.0.0.1"))).Status);
        }

        // Not told about the proxy: whoever is behind it is unknown, so not local either.
        await using var untold = await ChatServer.StartAsync();
        Assert.Equal(404, (await GetRawAsync(untold.HttpUri.Port, "/metrics", ("X-Forwarded-For", Outside))).Status);
        Assert.Equal(200, (await GetRawAsync(untold.HttpUri.Port, "/metrics")).Status);
    }

    [Fact]
    public async Task A_socket_opens_only_from_a_page_of_the_same_scheme_host_and_port_and_behind_TLS_the_scheme_is_the_proxys()
    {
        await using (var plain = await ChatServer.StartAsync())
        {
            var authority = plain.HttpUri.Authority;
            await AssertRefusedAsync(plain.ConnectAsync($"https://{authority}"));
            await AssertRefusedAsync(plain.ConnectAsync($"http://{plain.HttpUri.Host}:{plain.HttpUri.Port + 1}"));
            await using var same = await plain.ConnectAsync($"http://{authority}");
            await same.CreateAccountAsync("same origin");
        }

        // nginx ends TLS and says so: the page is https, the socket reaches the server as plain HTTP.
        await using var behindTls = await ChatServer.StartAsync("Chat:Cluster:TrustedProxies=127.0.0.1");
        var host = behindTls.HttpUri.Authority;
        (string, string)[] proxied = [("X-Forwarded-For", Outside), ("X-Forwarded-Proto", "https")];
        await using var page = await behindTls.ConnectAsync($"https://{host}", proxied);
        await page.CreateAccountAsync("over tls");
        await AssertRefusedAsync(behindTls.ConnectAsync($"http://{host}", proxied));
    }

    private static async Task AssertRefusedAsync(Task<TestClient> connecting)
    {
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => connecting);
        Assert.Contains("403", refused.Message + refused.InnerException?.Message, StringComparison.Ordinal);
    }

    /// <summary>GET with the path exactly as given (HttpClient would normalise it first), on a connection of its own.</summary>
    private static async Task<(int Status, string Body)> GetRawAsync(int port, string path, params (string Name, string Value)[] headers)
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TestClient.Timeout);
        await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        var stream = tcp.GetStream();
        var request = new StringBuilder($"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            request.Append($"{name}: {value}\r\n");
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()), timeout.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync(timeout.Token);
        return (int.Parse(response.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture), response);
    }
}
