DROP TABLE notification_log;
DROP TABLE escalations;
