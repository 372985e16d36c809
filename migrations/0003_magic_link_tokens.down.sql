DROP TABLE magic_link_tokens;
