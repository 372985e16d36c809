DROP TABLE notifications;
DROP TABLE teams_webhooks;
