"""Ways views get in: file/HTTP imports (imports.py)."""
