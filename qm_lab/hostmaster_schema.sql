-- Aegir 3 (hosting 7.x-3.x) hostmaster schema: the tables and columns qm-tui reads, as a fresh
-- install creates them from hook_schema (Drupal 7 core node/node_revision; hosting/*.install).
-- Drupal type mapping (MySQL driver): int -> INT, serial -> INT AUTO_INCREMENT, size tiny/small/big
-- -> TINYINT/SMALLINT/BIGINT, text normal/small/big -> TEXT/TINYTEXT/LONGTEXT.
-- Type tables are keyed by vid (the node revision); older revisions keep their rows.
-- Statements are separated by ';' at the end of a line (hostmaster_db splits on that).

CREATE TABLE `node` (
  `nid` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `type` VARCHAR(32) NOT NULL DEFAULT '',
  `language` VARCHAR(12) NOT NULL DEFAULT '',
  `title` VARCHAR(255) NOT NULL DEFAULT '',
  `uid` INT NOT NULL DEFAULT 0,
  `status` INT NOT NULL DEFAULT 1,
  `created` INT NOT NULL DEFAULT 0,
  `changed` INT NOT NULL DEFAULT 0,
  `comment` INT NOT NULL DEFAULT 0,
  `promote` INT NOT NULL DEFAULT 0,
  `sticky` INT NOT NULL DEFAULT 0,
  `tnid` INT UNSIGNED NOT NULL DEFAULT 0,
  `translate` INT NOT NULL DEFAULT 0,
  PRIMARY KEY (`nid`),
  UNIQUE KEY `vid` (`vid`),
  KEY `node_changed` (`changed`),
  KEY `node_created` (`created`),
  KEY `node_frontpage` (`promote`, `status`, `sticky`, `created`),
  KEY `node_status_type` (`status`, `type`, `nid`),
  KEY `node_title_type` (`title`, `type`(4)),
  KEY `node_type` (`type`(4)),
  KEY `uid` (`uid`),
  KEY `tnid` (`tnid`),
  KEY `translate` (`translate`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `node_revision` (
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `vid` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `uid` INT NOT NULL DEFAULT 0,
  `title` VARCHAR(255) NOT NULL DEFAULT '',
  `log` LONGTEXT NOT NULL,
  `timestamp` INT NOT NULL DEFAULT 0,
  `status` INT NOT NULL DEFAULT 1,
  `comment` INT NOT NULL DEFAULT 0,
  `promote` INT NOT NULL DEFAULT 0,
  `sticky` INT NOT NULL DEFAULT 0,
  PRIMARY KEY (`vid`),
  KEY `nid` (`nid`),
  KEY `uid` (`uid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- hosting.install (HOSTING_MAX_ALIAS_LENGTH = 235)
CREATE TABLE `hosting_context` (
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `name` VARCHAR(235) NOT NULL,
  PRIMARY KEY (`nid`),
  UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- site/hosting_site.install
CREATE TABLE `hosting_site` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `client` INT NOT NULL DEFAULT 0,
  `db_server` INT NOT NULL DEFAULT 0,
  `db_name` VARCHAR(64) NULL DEFAULT '',
  `platform` INT NOT NULL DEFAULT 0,
  `profile` INT NOT NULL DEFAULT 0,
  `language` VARCHAR(10) NOT NULL DEFAULT 'en',
  `last_cron` INT NULL,
  `cron_key` VARCHAR(80) NULL DEFAULT '',
  `verified` INT NOT NULL DEFAULT 0,
  `status` TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (`vid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_site_backups` (
  `bid` INT NOT NULL AUTO_INCREMENT,
  `site` INT NOT NULL DEFAULT 0,
  `web_server` INT NOT NULL DEFAULT 0,
  `description` LONGTEXT NULL,
  `filename` LONGTEXT NULL,
  `size` BIGINT NULL,
  `timestamp` INT NULL,
  PRIMARY KEY (`bid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- alias/hosting_alias.install: no primary key
CREATE TABLE `hosting_site_alias` (
  `vid` INT NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `alias` VARCHAR(128) NOT NULL,
  `automatic` INT NOT NULL DEFAULT 0,
  `redirection` VARCHAR(255) NOT NULL,
  KEY `vid` (`vid`),
  KEY `alias` (`alias`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- platform/hosting_platform.install (no release column)
CREATE TABLE `hosting_platform` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `publish_path` LONGTEXT NULL,
  `makefile` LONGTEXT NULL,
  `web_server` INT NOT NULL DEFAULT 0,
  `verified` INT NOT NULL DEFAULT 0,
  `status` TINYINT NOT NULL DEFAULT 0,
  `make_working_copy` INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (`vid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- client/hosting_client.install: no rows = open to every client
CREATE TABLE `hosting_platform_client_access` (
  `pid` INT UNSIGNED NOT NULL DEFAULT 0,
  `cid` INT UNSIGNED NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- server/hosting_server.install
CREATE TABLE `hosting_server` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `human_name` TINYTEXT NULL,
  `verified` INT NOT NULL DEFAULT 0,
  `status` TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (`vid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_ip_addresses` (
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `ip_address` TINYTEXT NOT NULL,
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`id`),
  KEY `nid` (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- one row per (server revision, service); no primary key
CREATE TABLE `hosting_service` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `service` TINYTEXT NOT NULL,
  `type` TINYTEXT NOT NULL,
  `restart_cmd` LONGTEXT NULL,
  `port` INT UNSIGNED NULL DEFAULT 0,
  `available` SMALLINT NOT NULL DEFAULT 1,
  KEY `vid` (`vid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- web_cluster/hosting_web_cluster.install: vid/nid are the cluster server's
CREATE TABLE `hosting_web_cluster` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `web_server_nid` INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (`vid`, `web_server_nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- web_pack/hosting_web_pack.install
CREATE TABLE `hosting_web_pack` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `web_server_nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `type` VARCHAR(60) NOT NULL DEFAULT 'slave',
  PRIMARY KEY (`vid`, `web_server_nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- db_server/hosting_db_server.install: plain-text root credentials, as Aegir keeps them
CREATE TABLE `hosting_db_server` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `db_user` LONGTEXT NOT NULL,
  `db_passwd` LONGTEXT NOT NULL,
  PRIMARY KEY (`vid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_client` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `uname` VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`vid`),
  UNIQUE KEY `uname_unq` (`uname`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_client_user` (
  `user` INT UNSIGNED NOT NULL DEFAULT 0,
  `client` INT UNSIGNED NOT NULL DEFAULT 0,
  `contact_type` VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`user`, `client`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- package/hosting_package.install
CREATE TABLE `hosting_package` (
  `vid` INT NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `package_type` VARCHAR(16) NOT NULL DEFAULT '',
  `short_name` VARCHAR(255) NOT NULL DEFAULT '',
  `old_short_name` VARCHAR(255) NOT NULL DEFAULT '',
  `description` LONGTEXT NOT NULL,
  PRIMARY KEY (`vid`),
  KEY `hosting_package_nid_idx` (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- rid: a site nid, a platform nid, or the iid of a profile's instance on a platform
CREATE TABLE `hosting_package_instance` (
  `iid` INT NOT NULL AUTO_INCREMENT,
  `rid` INT NOT NULL DEFAULT 0,
  `package_id` INT NOT NULL DEFAULT 0,
  `filename` TEXT NOT NULL,
  `schema_version` INT NOT NULL DEFAULT 0,
  `version` VARCHAR(255) NOT NULL DEFAULT '',
  `version_code` BIGINT NOT NULL DEFAULT 0,
  `status` INT NOT NULL DEFAULT 0,
  `platform` INT NOT NULL DEFAULT 0,
  PRIMARY KEY (`iid`),
  KEY `hosting_package_rid_idx` (`rid`),
  KEY `hosting_package_id_idx` (`package_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_package_languages` (
  `iid` INT NOT NULL,
  `language` VARCHAR(12) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- task/hosting_task.install (rid is not indexed, as in Aegir)
CREATE TABLE `hosting_task` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `task_type` LONGTEXT NULL,
  `rid` INT NOT NULL DEFAULT 0,
  `task_status` INT NULL,
  `executed` INT NULL,
  `delta` INT NULL,
  PRIMARY KEY (`vid`),
  KEY `nid` (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_task_arguments` (
  `vid` INT UNSIGNED NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `name` LONGTEXT NULL,
  `value` LONGTEXT NULL,
  KEY `vid` (`vid`),
  KEY `nid` (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE `hosting_task_log` (
  `lid` INT NOT NULL AUTO_INCREMENT,
  `vid` INT NOT NULL DEFAULT 0,
  `nid` INT UNSIGNED NOT NULL DEFAULT 0,
  `type` VARCHAR(16) NOT NULL DEFAULT '',
  `message` LONGTEXT NOT NULL,
  `error` LONGTEXT NOT NULL,
  `timestamp` INT NOT NULL DEFAULT 0,
  PRIMARY KEY (`lid`),
  KEY `type` (`type`),
  KEY `vid_lid` (`vid`, `lid`),
  KEY `nid` (`nid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
