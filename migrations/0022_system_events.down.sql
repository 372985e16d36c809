DROP TABLE admin_system_events;
