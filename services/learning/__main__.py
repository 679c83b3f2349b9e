from services.learning.server import build

build().main()
