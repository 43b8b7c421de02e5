"""A decorative module: ``decorate(app)`` runs when the app is mounted."""


def decorate(app):
    @app.route("/stats")
    def stats(was):
        return {"items": len(was.app.config.catalog), "added": was.app.config.added}
