<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
<pipe>
<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="0.0" classificationMax="1.0"><rasterTransparency/><rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="0.0" maximumValue="1.0"><item value="0.0" color="#000004" label="0" alpha="0"/><item value="0.25" color="#57106e" label="0.25" alpha="120"/><item value="0.5" color="#bc3754" label="0.5" alpha="170"/><item value="0.75" color="#f98e09" label="0.75" alpha="200"/><item value="1.0" color="#fcffa4" label="1" alpha="220"/></colorrampshader></rastershader></rasterrenderer>
</pipe>
<blendMode>0</blendMode>
</qgis>
