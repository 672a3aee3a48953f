"""Database: typed models, engine and session handling."""
