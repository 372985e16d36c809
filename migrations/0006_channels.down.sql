DROP TABLE notifications;
DROP TABLE credentials;
