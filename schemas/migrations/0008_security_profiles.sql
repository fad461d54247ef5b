-- Security profiles per charger (OCA "Improved security for OCPP 1.6-J", section 2).
-- security_profile: the lowest profile a connection of this charger must prove.
-- security_profile_pending: a higher profile the charger was told to use (ChangeConfiguration
-- SecurityProfile); it becomes security_profile once a connection proves it.
ALTER TABLE charge_points
    ADD COLUMN security_profile smallint NOT NULL DEFAULT 0
        CONSTRAINT charge_points_security_profile CHECK (security_profile BETWEEN 0 AND 3),
    ADD COLUMN security_profile_pending smallint
        CONSTRAINT charge_points_security_profile_pending
        CHECK (security_profile_pending BETWEEN 1 AND 3);

-- Chargers with a key already had to present it: they were at profile 1 at least.
UPDATE charge_points SET security_profile = 1 WHERE authorization_key_hash IS NOT NULL;
