"""Named SQL queries run on their own schedule (never on a scrape)."""
