"""The web console (issue 11): people use ITM in a browser.

Server-rendered aiohttp + Jinja2 pages; the console holds no data of its own and
talks to the five services only through their gRPC APIs, with the signed-in
person's identity (``clients.py``). See docs/web.md.
"""
