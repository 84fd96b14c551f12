using System.Net;
using Chat.Logic.Storage;
using Chat.Logic.Storage.MariaDb;
using Chat.Testing;
using Chat.Testing.Databases;
using Chat.Testing.Network;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MySqlConnector;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Chat.Tests.Cluster;

/// <summary>
/// The MariaDB migrations carry the tables, queries and procedure of Orleans' ADO.NET clustering
/// (Microsoft.Orleans.Clustering.AdoNet 10.4.2), so the cluster of logic nodes finds them ready: a
/// silo started on the migrated database, as the chat's database user, joins and leaves membership.
/// </summary>
public sealed class AdoNetClusteringTests
{
    private const int Active = 3, Dead = 6;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_silo_with_ADO_NET_clustering_on_the_migrated_database_becomes_active_and_leaves_as_dead()
    {
        var server = await MariaDbServer.Shared;
        var database = await server.CreateDatabaseAsync();
        await using (var store = new MariaDbChatStore(Options.Create(new StoreOptions { Kind = "mariadb", ConnectionString = database.ConnectionString }), TimeProvider.System, NullLogger<MariaDbChatStore>.Instance))
        {
            await store.InitializeAsync(CancellationToken.None);
        }

        var port = LoopbackPort.Free();
        using var host = new HostBuilder()
            .UseOrleans(silo => silo
                .UseAdoNetClustering(options =>
                {
                    options.Invariant = "MySql.Data.MySqlConnector";
                    options.ConnectionString = database.ConnectionString;
                })
                .Configure<ClusterOptions>(options => (options.ClusterId, options.ServiceId) = ("chat-test", "chat"))
                .ConfigureEndpoints(IPAddress.Loopback, port, gatewayPort: 0))
            .ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .Build();

        await host.StartAsync().Within(Limit, "the silo to join the cluster");
        Assert.Equal([(Active, port)], await MembersAsync(database));

        await host.StopAsync().Within(Limit, "the silo to leave");
        Assert.Equal([(Dead, port)], await MembersAsync(database));
    }

    private static async Task<List<(int Status, int Port)>> MembersAsync(MariaDbDatabase database)
    {
        await using var connection = new MySqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new MySqlCommand("SELECT Status, Port FROM OrleansMembershipTable WHERE DeploymentId = 'chat-test';", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var members = new List<(int, int)>();
        while (await reader.ReadAsync())
        {
            members.Add((reader.GetInt32(0), reader.GetInt32(1)));
        }

        return members;
    }
}
