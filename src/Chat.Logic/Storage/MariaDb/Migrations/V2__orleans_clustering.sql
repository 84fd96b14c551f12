-- Cluster membership for the Orleans ADO.NET clustering (Microsoft.Orleans.Clustering.AdoNet 10.4.2),
-- ready for the cluster of logic nodes. The package ships no SQL: the provider reads its queries by
-- key from OrleansQuery, binds parameters by name (@DeploymentId, …) and reads columns by name. Those
-- names, the tables and the query keys are its contract, as dotnet/orleans defines it in
-- src/AdoNet/Shared/MySQL-Main.sql and src/AdoNet/Orleans.Clustering.AdoNet/MySQL-Clustering.sql;
-- 10.4.2 refuses to start unless all ten keys below exist. Written here to that contract.
-- The procedure InsertMembershipKey calls is V3 (Evolve sends a script as it is, and a procedure
-- body and its semicolons need a script of their own).

CREATE TABLE OrleansQuery (
    QueryKey        VARCHAR(64)     NOT NULL,
    QueryText       VARCHAR(8000)   NOT NULL,
    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per cluster (DeploymentId = the cluster id); Version rises with every membership change,
-- which is how silos detect concurrent writers (optimistic concurrency).
CREATE TABLE OrleansMembershipVersionTable (
    DeploymentId    NVARCHAR(150)   NOT NULL,
    Timestamp       TIMESTAMP       DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    Version         INT             NOT NULL DEFAULT 0,
    CONSTRAINT PK_OrleansMembershipVersionTable_DeploymentId PRIMARY KEY (DeploymentId)
) ENGINE = InnoDB;

-- One row per silo incarnation (address, port, generation).
CREATE TABLE OrleansMembershipTable (
    DeploymentId    NVARCHAR(150)   NOT NULL,
    Address         VARCHAR(45)     NOT NULL,
    Port            INT             NOT NULL,
    Generation      INT             NOT NULL,
    SiloName        NVARCHAR(150)   NOT NULL,
    HostName        NVARCHAR(150)   NOT NULL,
    Status          INT             NOT NULL,
    ProxyPort       INT             NULL,
    SuspectTimes    VARCHAR(8000)   NULL,
    StartTime       DATETIME        NOT NULL,
    IAmAliveTime    DATETIME        NOT NULL,
    CONSTRAINT PK_MembershipTable_DeploymentId PRIMARY KEY (DeploymentId, Address, Port, Generation),
    CONSTRAINT FK_MembershipTable_MembershipVersionTable_DeploymentId
        FOREIGN KEY (DeploymentId) REFERENCES OrleansMembershipVersionTable (DeploymentId)
) ENGINE = InnoDB;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
-- The heartbeat of a silo; the provider checks no result.
('UpdateIAmAlivetimeKey', '
UPDATE OrleansMembershipTable
SET IAmAliveTime = GREATEST(IAmAliveTime, @IAmAliveTime)
WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
  AND Address = @Address AND @Address IS NOT NULL
  AND Port = @Port AND @Port IS NOT NULL
  AND Generation = @Generation AND @Generation IS NOT NULL;
'),
-- The version row of the cluster, made once; returns how many rows were made.
('InsertMembershipVersionKey', '
INSERT INTO OrleansMembershipVersionTable (DeploymentId)
SELECT @DeploymentId FROM DUAL
WHERE @DeploymentId IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId);
SELECT ROW_COUNT();
'),
-- A new silo row and the version bump, together or not at all (V3); returns 1 when done.
('InsertMembershipKey', '
CALL InsertMembershipKey(@DeploymentId, @Address, @Port, @Generation, @Version, @SiloName, @HostName, @Status, @ProxyPort, @StartTime, @IAmAliveTime);
'),
-- A status change of a silo row with the version bump, only if the version is still the one read.
('UpdateMembershipKey', '
UPDATE OrleansMembershipVersionTable v
JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
SET v.Version = v.Version + 1,
    m.Status = @Status,
    m.SuspectTimes = @SuspectTimes,
    m.IAmAliveTime = GREATEST(m.IAmAliveTime, @IAmAliveTime)
WHERE v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
  AND v.Version = @Version AND @Version IS NOT NULL AND v.Version < 2147483647
  AND m.Address = @Address AND @Address IS NOT NULL
  AND m.Port = @Port AND @Port IS NOT NULL
  AND m.Generation = @Generation AND @Generation IS NOT NULL;
SELECT ROW_COUNT() > 0;
'),
-- Gateways of the cluster with the given status (for clients).
('GatewaysQueryKey', '
SELECT Address, ProxyPort, Generation
FROM OrleansMembershipTable
WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
  AND Status = @Status AND @Status IS NOT NULL
  AND ProxyPort > 0;
'),
-- One silo row with the version of the cluster (the version even when there is no such row).
('MembershipReadRowKey', '
SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status,
       m.ProxyPort, m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
FROM OrleansMembershipVersionTable v
LEFT JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
  AND m.Address = @Address AND @Address IS NOT NULL
  AND m.Port = @Port AND @Port IS NOT NULL
  AND m.Generation = @Generation AND @Generation IS NOT NULL
WHERE v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
'),
-- Every silo row of the cluster with its version.
('MembershipReadAllKey', '
SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status,
       m.ProxyPort, m.SuspectTimes, m.StartTime, m.IAmAliveTime, v.Version
FROM OrleansMembershipVersionTable v
LEFT JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
WHERE v.DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
'),
-- The whole membership of the cluster (tests, a fresh start).
('DeleteMembershipTableEntriesKey', '
DELETE FROM OrleansMembershipTable WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
DELETE FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL;
'),
-- Rows of dead silos (Status 6) not alive since the given time.
('CleanupDefunctSiloEntriesKey', '
DELETE FROM OrleansMembershipTable
WHERE DeploymentId = @DeploymentId AND @DeploymentId IS NOT NULL
  AND IAmAliveTime < @IAmAliveTime AND StartTime < @IAmAliveTime
  AND COALESCE(SuspectTimes, '''') = ''''
  AND Status = 6;
'),
-- The row of one dead silo, only if it is still exactly as read.
('CleanupDefunctSiloEntryKey', '
DELETE FROM OrleansMembershipTable
WHERE DeploymentId = @DeploymentId AND Status = 6
  AND Address = @Address AND Port = @Port AND Generation = @Generation
  AND IAmAliveTime = @IAmAliveTime AND StartTime = @StartTime
  AND CAST(COALESCE(SuspectTimes, '''') AS BINARY) = CAST(COALESCE(@SuspectTimes, '''') AS BINARY);
');
