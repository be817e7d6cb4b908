"""``python -m phenomena.catalog``: remake ``listing.json`` after adding or changing an entry."""

from phenomena.catalog import write_listing

if __name__ == "__main__":
    print(f"wrote {write_listing()}")
