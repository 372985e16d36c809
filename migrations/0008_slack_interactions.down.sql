DROP INDEX recipients_slack_user;
DROP TABLE slack_request_signatures;
