DROP TABLE event_log;
DROP FUNCTION event_log_reject_update();
