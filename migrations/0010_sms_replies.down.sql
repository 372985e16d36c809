DROP TABLE sms_replies;
DROP TABLE sms_reply_codes;
DROP TABLE sms_reply_counters;
