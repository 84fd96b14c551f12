-- The procedure behind Orleans' InsertMembershipKey query (V2, same contract): bumps the cluster's
-- version if it is still the one the silo read and inserts the silo's row if it is new, both or
-- neither, and returns how many rows it inserted. Its own script: Evolve sends a script to the
-- server as it is, with no DELIMITER, so the body's semicolons must be the script's only ones.
-- The node's database user needs CREATE ROUTINE to create it and EXECUTE to call it.
CREATE PROCEDURE InsertMembershipKey(
    IN _DeploymentId NVARCHAR(150),
    IN _Address VARCHAR(45),
    IN _Port INT,
    IN _Generation INT,
    IN _Version INT,
    IN _SiloName NVARCHAR(150),
    IN _HostName NVARCHAR(150),
    IN _Status INT,
    IN _ProxyPort INT,
    IN _StartTime DATETIME,
    IN _IAmAliveTime DATETIME)
BEGIN
    DECLARE _Inserted INT;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    UPDATE OrleansMembershipVersionTable
    SET Version = Version + 1
    WHERE DeploymentId = _DeploymentId AND _DeploymentId IS NOT NULL
      AND Version = _Version AND _Version IS NOT NULL AND Version < 2147483647;
    SET _Inserted = ROW_COUNT();

    INSERT INTO OrleansMembershipTable
        (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort, StartTime, IAmAliveTime)
    SELECT _DeploymentId, _Address, _Port, _Generation, _SiloName, _HostName, _Status, _ProxyPort, _StartTime, _IAmAliveTime
    FROM DUAL
    WHERE _Inserted > 0 AND NOT EXISTS (
        SELECT 1 FROM OrleansMembershipTable
        WHERE DeploymentId = _DeploymentId AND _DeploymentId IS NOT NULL
          AND Address = _Address AND _Address IS NOT NULL
          AND Port = _Port AND _Port IS NOT NULL
          AND Generation = _Generation AND _Generation IS NOT NULL);
    SET _Inserted = ROW_COUNT();

    IF _Inserted = 0 THEN
        ROLLBACK;
    ELSE
        COMMIT;
    END IF;
    SELECT _Inserted;
END
