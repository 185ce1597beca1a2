"""One spider class per source kind; ``scrapers.loader`` names a subclass after each configured source."""
